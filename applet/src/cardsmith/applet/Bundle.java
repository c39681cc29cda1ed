package cardsmith.applet;

import javacard.framework.APDU;
import javacard.framework.CardRuntimeException;
import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.CryptoException;
import javacard.security.KeyBuilder;
import javacardx.crypto.Cipher;

/**
 * Capability "issuance", self-issuance (docs/self-issuance.md): a bundle of personalisation commands, protected end to end by the
 * data preparer, is written into the bundle store (PUT_BUNDLE), checked whole, and run by one START_BUNDLE
 * through the applet's own dispatcher (CardsmithApplet.execute, the same table and lifecycle checks as a
 * terminal's command). CLEAR_BUNDLE clears every capability (CardsmithApplet.clearAll), this one last. Progress is committed per checkpoint unit in the same transaction as
 * the unit's effects, so an interrupted or failed run resumes at the start of the unit it stopped in.
 *
 * <p>Envelope: type(1) version(1) cardId(8, zero = any card) sequence(4) ctLen(2) | IV(16) | ct | MAC(16),
 * MAC = CMAC(Kmac, everything before it), ct = AES-CBC(Kenc, IV, plaintext ISO 9797-1 method 2 padded),
 * Kenc/Kmac derived from the personalisation key (SP 800-108 counter mode, CMAC PRF).
 * Plaintext: count(2) cpCount(1) checkpoints(2 each, ascending, 2..count) then count commands
 * INS(1) P1(1) P2(1) Lc(2) data(Lc).
 */
final class Bundle implements Capability {
    private static final short HDR = Proto.ENVELOPE_HEADER_LENGTH;
    private static final short IV = 16;
    private static final short MAC = 16;
    private static final short OVERHEAD = (short) (HDR + IV + MAC);
    private static final short H_TYPE = 0;
    private static final short H_VERSION = 1;
    private static final short H_CARD = 2;
    private static final short H_SEQ = 10;
    private static final short H_CTLEN = 14;
    private static final short CMD_HDR = 5;

    // persistent state bytes (written through Tx)
    private static final short ST_STATUS = 0;
    private static final short ST_COUNT = 1;
    private static final short ST_DONE = 3;
    private static final short ST_FAILED_AT = 5;
    private static final short ST_INNER_SW = 7;
    private static final short ST_RECEIVED = 9;
    private static final short ST_CP_OFF = 11;
    private static final short ST_CP_N = 13;
    private static final short ST_NEXT_OFF = 14;
    private static final short ST_LAST_SEQ = 16;
    private static final short ST_SEQ = 20;
    private static final short ST_KEY_GEN = 24;
    private static final short ST_KEY_SLOT = 26;
    private static final short ST_SIZE = 27;

    /** The documented development personalisation key (ASCII "CARDSMITH-DEV-PK"): never for real cards. */
    private static final byte[] DEV_KEY = {'C', 'A', 'R', 'D', 'S', 'M', 'I', 'T', 'H', '-', 'D', 'E', 'V', '-',
        'P', 'K'};

    private final CardsmithApplet applet;
    private final byte[] store;
    private final byte[] st;
    /** [slot * 2 + 0] encryption key, [slot * 2 + 1] MAC key; ST_KEY_SLOT says which slot is live. */
    private final AESKey[] keys;
    private final AESKey base128;
    private final AESKey base256;
    private final Cmac cmac;
    private final Kdf256 kdf;
    /** Transient scratch: KDF input/output and MACs. */
    private final byte[] tmp;
    /** Transient: [0] != 0 while START runs (inner commands may not re-enter self-issuance). */
    private final byte[] running;

    Bundle(CardsmithApplet applet, short size, byte[] params, short off, short len) {
        if (size < 64 || size > Proto.MAX_BUNDLE_SIZE) {
            ISOException.throwIt(ISO7816.SW_WRONG_DATA);
        }
        this.applet = applet;
        store = new byte[size];
        st = new byte[ST_SIZE];
        keys = new AESKey[4];
        for (short i = 0; i < 4; i++) {
            keys[i] = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_256, false);
        }
        base128 = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_128, false);
        base256 = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_256, false);
        cmac = new Cmac(applet.algorithms());
        kdf = new Kdf256(cmac);
        tmp = JCSystem.makeTransientByteArray((short) 64, JCSystem.CLEAR_ON_DESELECT);
        running = JCSystem.makeTransientByteArray((short) 1, JCSystem.CLEAR_ON_DESELECT);
        short keyOff = InstallParams.find(params, off, len, Proto.TAG_INSTALL_PERSO_KEY);
        try {
            if (keyOff < 0) {
                deriveInto((short) 0, DEV_KEY, (short) 0, (short) 16);
            } else {
                short keyLen = InstallParams.length(params, keyOff);
                if (keyLen != 16 && keyLen != 32) {
                    ISOException.throwIt(ISO7816.SW_WRONG_DATA);
                }
                deriveInto((short) 0, params, keyOff, keyLen);
            }
        } catch (ISOException e) {
            if (e.getReason() != Proto.SW_FUNCTION_NOT_SUPPORTED) {
                throw e;
            }
            // no AES on this card: the keys stay uninitialised and self-issuance answers 6A81
        }
    }

    /** Whether ins is one of self-issuance's own commands (these cannot be inner commands). */
    private static boolean owns(byte ins) {
        return CardsmithApplet.capabilityOf(ins) == Proto.CAPABILITY_ISSUANCE;
    }

    public     short dispatch(byte ins, byte p1, byte p2, byte[] in, short inOff, short inLen) {
        if (running[0] != 0) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED); // no self-issuance inside a bundle
        }
        switch (ins) {
            case Proto.INS_PUT_BUNDLE:
                return put(p1, p2, in, inOff, inLen);
            case Proto.INS_START_BUNDLE:
                CardsmithApplet.requireP1P2(p1, p2);
                return start();
            case Proto.INS_BUNDLE_STATUS:
                CardsmithApplet.requireP1P2(p1, p2);
                return status();
            case Proto.INS_CLEAR_BUNDLE:
                CardsmithApplet.requireP1P2(p1, p2);
                applet.clearAll(); // every capability, this one's clear() last
                return 0;
            case Proto.INS_SET_PERSO_KEY:
                CardsmithApplet.requireP1P2(p1, p2);
                return setKey(in, inOff, inLen);
            default:
                ISOException.throwIt(Proto.SW_INS_NOT_SUPPORTED);
                return 0;
        }
    }

    private byte statusByte() {
        return st[ST_STATUS];
    }

    private boolean partiallyApplied() {
        byte s = statusByte();
        return s == Proto.BUNDLE_RUNNING || s == Proto.BUNDLE_FAILED;
    }

    // ------------------------------------------------------------------ PUT BUNDLE

    private short put(byte p1, byte p2, byte[] in, short inOff, short inLen) {
        if ((p1 != 0 && p1 != (byte) 0x80) || p2 != 0) {
            ISOException.throwIt(Proto.SW_INCORRECT_P1P2);
        }
        if (inLen < 2) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        short at = Util.getShort(in, inOff);
        short chunk = (short) (inLen - 2);
        if (at == 0) {
            if (partiallyApplied()) {
                ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED); // resume or CLEAR the running one first
            }
            Tx.begin();
            Tx.setByte(st, ST_STATUS, Proto.BUNDLE_LOADING);
            Tx.setShort(st, ST_RECEIVED, (short) 0);
            Tx.setShort(st, ST_COUNT, (short) 0);
            Tx.setShort(st, ST_DONE, (short) 0);
            Tx.fill(st, ST_SEQ, (short) 4, (byte) 0);
            Tx.commit();
        } else if (statusByte() != Proto.BUNDLE_LOADING || at != Util.getShort(st, ST_RECEIVED)) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED); // out of order: start again at offset 0
        }
        if (at < 0 || chunk > (short) (store.length - at)) {
            ISOException.throwIt(Proto.SW_NOT_ENOUGH_MEMORY);
        }
        Util.arrayCopyNonAtomic(in, (short) (inOff + 2), store, at, chunk);
        Tx.begin();
        Tx.setShort(st, ST_RECEIVED, (short) (at + chunk));
        Tx.commit();
        if (p1 == 0) {
            return 0;
        }
        return accept();
    }

    /** The last chunk is in: check the whole envelope, decrypt, check the structure. */
    private short accept() {
        short total = Util.getShort(st, ST_RECEIVED);
        short ctLen = openEnvelope(store, (short) 0, total, Proto.ENVELOPE_BUNDLE);
        if (ctLen < 0) {
            reject();
        }
        short plainLen = decrypt(store, (short) 0, ctLen);
        if (plainLen < 0) {
            reject();
        }
        // structure
        if (plainLen < 3) {
            reject();
        }
        short count = Util.getShort(store, (short) 0);
        short cpN = (short) (store[2] & 0xFF);
        short off = (short) (3 + cpN * 2);
        if (count < 1 || off > plainLen) {
            reject();
        }
        short prev = 1;
        for (short i = 0; i < cpN; i++) {
            short cp = Util.getShort(store, (short) (3 + i * 2));
            if (cp <= prev || cp > count) {
                reject();
            }
            prev = cp;
        }
        short cmds = off;
        for (short i = 0; i < count; i++) {
            if ((short) (off + CMD_HDR) > plainLen || owns(store[off])) {
                reject();
            }
            short lc = Util.getShort(store, (short) (off + 3));
            if (lc < 0 || lc > (short) (plainLen - off - CMD_HDR)) {
                reject();
            }
            off = (short) (off + CMD_HDR + lc);
        }
        if (off != plainLen) {
            reject();
        }
        Tx.begin();
        Tx.setShort(st, ST_COUNT, count);
        Tx.setShort(st, ST_DONE, (short) 0);
        Tx.setShort(st, ST_FAILED_AT, (short) 0);
        Tx.setShort(st, ST_INNER_SW, (short) 0);
        Tx.setShort(st, ST_CP_OFF, (short) 3);
        Tx.setByte(st, ST_CP_N, (byte) cpN);
        Tx.setShort(st, ST_NEXT_OFF, cmds);
        Tx.copy(tmp, (short) 0, st, ST_SEQ, (short) 4); // openEnvelope left the sequence in tmp[0..4)
        Tx.setByte(st, ST_STATUS, Proto.BUNDLE_READY);
        Tx.commit();
        byte[] rsp = applet.responseBuffer();
        Util.setShort(rsp, (short) 0, count);
        rsp[2] = (byte) cpN;
        Util.arrayCopyNonAtomic(st, ST_SEQ, rsp, (short) 3, (short) 4);
        return 7;
    }

    /** Refuses the bundle: the store is wiped and left EMPTY, 6A80. */
    private void reject() {
        Util.arrayFillNonAtomic(store, (short) 0, (short) store.length, (byte) 0);
        Tx.begin();
        Tx.setByte(st, ST_STATUS, Proto.BUNDLE_EMPTY);
        Tx.setShort(st, ST_RECEIVED, (short) 0);
        Tx.commit();
        ISOException.throwIt(Proto.SW_WRONG_DATA);
    }

    /**
     * Checks an envelope of the given type at buf[off..off+total): length, version, card binding,
     * sequence beyond the last consumed one, MAC. Returns the ciphertext length, or -1; the envelope's
     * sequence number is left in tmp[0..4).
     */
    private short openEnvelope(byte[] buf, short off, short total, byte type) {
        AESKey macKey = keys[(short) (slot() * 2 + 1)];
        if (!macKey.isInitialized()) {
            ISOException.throwIt(Proto.SW_FUNCTION_NOT_SUPPORTED);
        }
        if (total < (short) (OVERHEAD + 16)) {
            return -1;
        }
        short ctLen = Util.getShort(buf, (short) (off + H_CTLEN));
        if (ctLen < 16 || (short) (ctLen % 16) != 0 || ctLen != (short) (total - OVERHEAD)) {
            return -1;
        }
        if (buf[(short) (off + H_TYPE)] != type || buf[(short) (off + H_VERSION)] != Proto.ENVELOPE_VERSION) {
            return -1;
        }
        if (!zero(buf, (short) (off + H_CARD), Proto.CARD_ID_LENGTH)
                && Util.arrayCompare(buf, (short) (off + H_CARD), applet.cardId(), (short) 0,
                        Proto.CARD_ID_LENGTH) != 0) {
            return -1;
        }
        if (!greater(buf, (short) (off + H_SEQ), st, ST_LAST_SEQ)) {
            return -1; // replay: this sequence (or a later one) was consumed already
        }
        short macOff = (short) (off + total - MAC);
        mac(macKey, buf, off, (short) (total - MAC), tmp, (short) 16);
        if (!Bytes.equalsConstantTime(tmp, (short) 16, buf, macOff, MAC)) {
            return -1;
        }
        Util.arrayCopyNonAtomic(buf, (short) (off + H_SEQ), tmp, (short) 0, (short) 4);
        return ctLen;
    }

    /**
     * Decrypts the checked envelope's ciphertext to buf[off..), through the response buffer as scratch,
     * and strips the ISO 9797-1 method 2 padding. Returns the plaintext length, or -1 for bad padding.
     */
    private short decrypt(byte[] buf, short off, short ctLen) {
        Cipher cbc = applet.algorithms().aesCbc();
        byte[] scratch = applet.responseBuffer();
        short step = (short) 256;
        cbc.init(keys[(short) (slot() * 2)], Cipher.MODE_DECRYPT, buf, (short) (off + HDR), IV);
        short src = (short) (off + HDR + IV);
        short dst = off;
        short left = ctLen;
        while (left > 0) {
            short n = left < step ? left : step;
            short got = left == n ? cbc.doFinal(buf, src, n, scratch, (short) 0)
                    : cbc.update(buf, src, n, scratch, (short) 0);
            Util.arrayCopyNonAtomic(scratch, (short) 0, buf, dst, got);
            src += n;
            dst += got;
            left -= n;
        }
        Util.arrayFillNonAtomic(scratch, (short) 0, step, (byte) 0);
        short end = (short) (off + ctLen - 1);
        short stop = (short) (end - 15);
        while (end >= stop && buf[end] == 0) {
            end--;
        }
        if (end < stop || buf[end] != (byte) 0x80) {
            return -1;
        }
        return (short) (end - off);
    }

    private static boolean zero(byte[] b, short off, short len) {
        byte acc = 0;
        for (short i = 0; i < len; i++) {
            acc |= b[(short) (off + i)];
        }
        return acc == 0;
    }

    /** Whether the 4-byte big-endian unsigned a[aOff..] > b[bOff..]. */
    private static boolean greater(byte[] a, short aOff, byte[] b, short bOff) {
        for (short i = 0; i < 4; i++) {
            short x = (short) (a[(short) (aOff + i)] & 0xFF);
            short y = (short) (b[(short) (bOff + i)] & 0xFF);
            if (x != y) {
                return x > y;
            }
        }
        return false;
    }

    private short slot() {
        return (short) (st[ST_KEY_SLOT] & 1);
    }

    // ------------------------------------------------------------------ START

    private short start() {
        byte s = statusByte();
        if (s == Proto.BUNDLE_READY) {
            // a fresh run needs INSTALLED; resuming one does not (a state-dependent condition: not the table's)
            if (applet.lifecycle() != Proto.LIFECYCLE_INSTALLED) {
                ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
            }
        } else if (s != Proto.BUNDLE_RUNNING && s != Proto.BUNDLE_FAILED) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED); // nothing to run, or consumed (DONE)
        }
        // A bundle accepted while INSTALLED and already started may finish after its own CLOSE_PERSONALISATION
        // committed (the units after it are then refused by their own lifecycle checks, as from a terminal).
        if (s != Proto.BUNDLE_RUNNING) {
            Tx.begin();
            Tx.setByte(st, ST_STATUS, Proto.BUNDLE_RUNNING);
            Tx.setShort(st, ST_FAILED_AT, (short) 0);
            Tx.setShort(st, ST_INNER_SW, (short) 0);
            Tx.commit();
        }
        short count = Util.getShort(st, ST_COUNT);
        short done = Util.getShort(st, ST_DONE);
        short off = Util.getShort(st, ST_NEXT_OFF);
        running[0] = 1;
        try {
            while (done < count) {
                short unitEnd = unitEnd((short) (done + 1), count);
                short k = (short) (done + 1);
                APDU.waitExtension();
                Tx.beginUnit();
                try {
                    for (; k <= unitEnd; k++) {
                        Faults.point();
                        short lc = Util.getShort(store, (short) (off + 3));
                        applet.execute(store[off], store[(short) (off + 1)], store[(short) (off + 2)], store,
                                (short) (off + CMD_HDR), lc);
                        off = (short) (off + CMD_HDR + lc);
                    }
                    Tx.setShort(st, ST_DONE, unitEnd);
                    Tx.setShort(st, ST_NEXT_OFF, off);
                    if (unitEnd == count) {
                        Tx.setByte(st, ST_STATUS, Proto.BUNDLE_DONE);
                        Tx.copy(st, ST_SEQ, st, ST_LAST_SEQ, (short) 4); // consumed: cannot run again
                    }
                    Faults.point();
                    Tx.commitUnit();
                } catch (Exception e) {
                    // whatever an inner command threw (a refusal, the commit buffer full, a platform or
                    // runtime exception), the whole unit is undone: nothing of it was applied, and the
                    // bundle is FAILED, never left RUNNING
                    Faults.passPowerLoss(e);
                    Tx.abort();
                    // k is past unitEnd when the commit itself failed (commit buffer full): blame the unit's last
                    return fail(k > unitEnd ? unitEnd : k, reason(e), count);
                }
                Faults.point();
                done = unitEnd;
            }
        } finally {
            running[0] = 0;
        }
        return result(Proto.BUNDLE_OUTCOME_COMPLETE, (short) 0, ISO7816.SW_NO_ERROR, count, count);
    }

    /** Last command of the unit that starts at first: the command before the next checkpoint, or count. */
    private short unitEnd(short first, short count) {
        short cpOff = Util.getShort(st, ST_CP_OFF);
        short cpN = (short) (st[ST_CP_N] & 0xFF);
        for (short i = 0; i < cpN; i++) {
            short cp = Util.getShort(store, (short) (cpOff + i * 2));
            if (cp > first) {
                return (short) (cp - 1);
            }
        }
        return count;
    }

    private static short reason(Exception e) {
        if (e instanceof ISOException) {
            return ((ISOException) e).getReason();
        }
        if (e instanceof CryptoException) {
            return ((CryptoException) e).getReason() == CryptoException.NO_SUCH_ALGORITHM
                    ? Proto.SW_FUNCTION_NOT_SUPPORTED : Proto.SW_WRONG_DATA;
        }
        if (e instanceof CardRuntimeException) {
            return Proto.SW_NOT_ENOUGH_MEMORY; // TransactionException (commit buffer full), SystemException
        }
        return ISO7816.SW_UNKNOWN; // a runtime exception of the inner command: recorded, not thrown
    }

    private short fail(short k, short sw, short count) {
        Tx.begin();
        Tx.setByte(st, ST_STATUS, Proto.BUNDLE_FAILED);
        Tx.setShort(st, ST_FAILED_AT, k);
        Tx.setShort(st, ST_INNER_SW, sw);
        Tx.commit();
        return result(Proto.BUNDLE_OUTCOME_FAILED, k, sw, Util.getShort(st, ST_DONE), count);
    }

    private short result(byte outcome, short failedAt, short sw, short done, short count) {
        byte[] rsp = applet.responseBuffer();
        rsp[0] = outcome;
        Util.setShort(rsp, (short) 1, failedAt);
        Util.setShort(rsp, (short) 3, sw);
        Util.setShort(rsp, (short) 5, done);
        Util.setShort(rsp, (short) 7, count);
        return 9;
    }

    // ------------------------------------------------------------------ STATUS, CLEAR, key

    private short status() {
        byte[] rsp = applet.responseBuffer();
        short done = Util.getShort(st, ST_DONE);
        rsp[0] = statusByte();
        Util.setShort(rsp, (short) 1, Util.getShort(st, ST_COUNT));
        Util.setShort(rsp, (short) 3, done);
        Util.setShort(rsp, (short) 5, (short) (done + 1));
        Util.setShort(rsp, (short) 7, Util.getShort(st, ST_FAILED_AT));
        Util.setShort(rsp, (short) 9, Util.getShort(st, ST_INNER_SW));
        Util.arrayCopyNonAtomic(st, ST_LAST_SEQ, rsp, (short) 11, (short) 4);
        Util.setShort(rsp, (short) 15, (short) store.length);
        Util.setShort(rsp, (short) 17, Util.getShort(st, ST_RECEIVED));
        Util.setShort(rsp, (short) 19, Util.getShort(st, ST_KEY_GEN));
        Util.arrayCopyNonAtomic(st, ST_SEQ, rsp, (short) 21, (short) 4);
        return 25;
    }

    /**
     * This capability's part of CLEAR_BUNDLE (CardsmithApplet.clearAll calls it after every other
     * capability's): the store is wiped, then the status goes to EMPTY in one transaction. A power loss
     * before that commit leaves the old status, and CLEAR is simply sent again. The last consumed
     * sequence number stays (an old bundle can never be replayed) and so does the personalisation key
     * with its generation (SET_PERSO_KEY is its only way to change).
     */
    public void clear() {
        Faults.point();
        Util.arrayFillNonAtomic(store, (short) 0, (short) store.length, (byte) 0);
        Tx.begin();
        Tx.setByte(st, ST_STATUS, Proto.BUNDLE_EMPTY);
        Tx.setShort(st, ST_COUNT, (short) 0);
        Tx.setShort(st, ST_DONE, (short) 0);
        Tx.setShort(st, ST_FAILED_AT, (short) 0);
        Tx.setShort(st, ST_INNER_SW, (short) 0);
        Tx.setShort(st, ST_RECEIVED, (short) 0);
        Tx.fill(st, ST_SEQ, (short) 4, (byte) 0);
        Tx.commit();
    }

    /** A bundle running its inner commands (CLEAR as an inner command is refused before this anyway). */
    public boolean busy() {
        return running[0] != 0;
    }

    /** Self-issuance's state is in BUNDLE_STATUS: nothing for GET INFO. */
    public short putInfo(byte[] out, short off) {
        return off;
    }

    private short setKey(byte[] in, short inOff, short inLen) {
        if (partiallyApplied()) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
        }
        if (inLen > (short) (OVERHEAD + 48)) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        short ctLen = openEnvelope(in, inOff, inLen, Proto.ENVELOPE_PERSO_KEY);
        if (ctLen < 0) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        Util.arrayCopyNonAtomic(tmp, (short) 0, tmp, (short) 60, (short) 4); // the sequence, kept aside
        short keyLen = decrypt(in, inOff, ctLen);
        if (keyLen != 16 && keyLen != 32) {
            Util.arrayFillNonAtomic(in, inOff, inLen, (byte) 0);
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        short next = (short) (1 - slot());
        deriveInto(next, in, inOff, keyLen);
        Util.arrayFillNonAtomic(in, inOff, inLen, (byte) 0);
        // A bundle stored but not started was sealed under the old key: it goes with it, in the same
        // transaction as the key change (its bytes are wiped afterwards; nothing can run them once EMPTY).
        // openEnvelope accepted only a sequence above the last consumed one, so the counter only grows.
        byte s = st[ST_STATUS];
        Tx.begin();
        Tx.setByte(st, ST_KEY_SLOT, (byte) next);
        Tx.setShort(st, ST_KEY_GEN, (short) (Util.getShort(st, ST_KEY_GEN) + 1));
        Tx.copy(tmp, (short) 60, st, ST_LAST_SEQ, (short) 4);
        if (s == Proto.BUNDLE_READY || s == Proto.BUNDLE_LOADING) {
            Tx.setByte(st, ST_STATUS, Proto.BUNDLE_EMPTY);
            Tx.setShort(st, ST_COUNT, (short) 0);
            Tx.setShort(st, ST_RECEIVED, (short) 0);
            Tx.fill(st, ST_SEQ, (short) 4, (byte) 0);
        }
        Faults.point();
        Tx.commit();
        if (s == Proto.BUNDLE_READY || s == Proto.BUNDLE_LOADING) {
            Util.arrayFillNonAtomic(store, (short) 0, (short) store.length, (byte) 0);
        }
        Util.setShort(applet.responseBuffer(), (short) 0, Util.getShort(st, ST_KEY_GEN));
        return 2;
    }

    /** The one place Bundle uses the shared CMAC: out[outOff..+16) = CMAC(key, in[off..off+len)). */
    private void mac(AESKey key, byte[] in, short off, short len, byte[] out, short outOff) {
        cmac.init(key);
        cmac.update(in, off, len);
        cmac.doFinal(out, outOff);
    }

    /**
     * Derives the encryption and MAC keys of slot from the personalisation key k (16 or 32 bytes) with
     * Kdf256 (SP 800-108, labels KDF_BUNDLE_ENC and KDF_BUNDLE_MAC, no context), 256 bits each.
     */
    private void deriveInto(short slot, byte[] k, short kOff, short kLen) {
        AESKey base = kLen == 16 ? base128 : base256;
        base.setKey(k, kOff);
        kdf.derive(base, Proto.KDF_BUNDLE_ENC, null, (short) 0, (short) 0, tmp, (short) 16);
        keys[(short) (slot * 2)].setKey(tmp, (short) 16);
        kdf.derive(base, Proto.KDF_BUNDLE_MAC, null, (short) 0, (short) 0, tmp, (short) 16);
        keys[(short) (slot * 2 + 1)].setKey(tmp, (short) 16);
        Util.arrayFillNonAtomic(tmp, (short) 0, (short) 48, (byte) 0);
        base.clearKey();
    }
}
