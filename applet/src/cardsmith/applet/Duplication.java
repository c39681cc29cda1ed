package cardsmith.applet;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.ECPrivateKey;
import javacard.security.ECPublicKey;
import javacard.security.KeyAgreement;
import javacard.security.KeyPair;
import javacard.security.MessageDigest;

/**
 * Capability "duplication": card-to-card key duplication under a key group (Toshiba JP 2001-043630), in-card
 * use of the key, and the holder PIN (HolderPin, whose commands are routed through here).
 * Formats and the state machine: docs/duplication.md.
 *
 * <p>Persistent state lives in {@link #st} (written through Tx) and {@link #slots}. Key objects are
 * written first and marked valid last (role byte), so a pulled card leaves either the old state or the
 * new one.
 */
final class Duplication implements Capability {
    // st[] layout
    private static final short ST_ROLE = 0;
    private static final short ST_SLOTS = 1; // bitmap, bit 0 = Key1
    private static final short ST_LOCKED = 2;
    private static final short ST_EXPORT = 3; // EXPORT_*
    private static final short ST_COUNTER = 4; // 2 bytes
    private static final short ST_EXPORT_TYPE = 6;
    private static final short ST_EXPORT_DEST = 7; // 8
    private static final short ST_EXPORT_IV = 15; // 16
    private static final short ST_KEY_ID = 31; // 8
    private static final short ST_SOURCE = 39; // 8
    private static final short ST_IMPORT_TYPE = 47;
    private static final short ST_IMPORT_TAG = 48; // 16
    private static final short ST_HAS_PUBLIC = 64;
    private static final short ST_SIZE = 65;

    // export blob header
    static final short HDR = 32;
    private static final short H_VERSION = 0;
    private static final short H_TYPE = 1;
    private static final short H_KEY_TYPE = 2;
    private static final short H_SLOTS = 3;
    private static final short H_SOURCE = 4;
    private static final short H_DEST = 12;
    private static final short H_KEY_ID = 20;
    private static final short H_COUNTER = 28;
    private static final short H_CT_LEN = 30;

    // envelope header
    static final short ENV_HDR = 77;
    private static final short E_KEY_ID = 2;
    private static final short E_POINT = 10;
    private static final short E_CT_LEN = 75;
    private static final short MAX_DATA_KEY = 64;

    private static final short KEYLEN = Proto.KEY_GROUP_KEY_LENGTH;
    private static final short SCALAR = P256.SCALAR_LENGTH;
    private static final short POINT = P256.POINT_LENGTH;
    private static final byte[] KCV_PREFIX = {(byte) 'K', (byte) 'C', (byte) 'V', (byte) '1'};
    private static final byte[] KEK_PREFIX = {Proto.KEY_GROUP_SLOTS};
    private static final byte[] GROUP_CHECK = {(byte) 'K', (byte) 'G', (byte) 'C', (byte) 'V'};

    private final CardsmithApplet applet;
    private final HolderPin pin;
    private final Algorithms alg;
    private final Cmac cmac;
    private final Kdf256 kdf;
    private final Aead aead;
    private final byte[] st;
    private final byte[] slots;
    private final KeyPair pair;
    private final KeyPair ephemeral;
    private final P256Check curve;
    /** Transient scratch: [0..32) KEK or shared secret, [32..64) derived key, [64..) working blob. */
    private final byte[] w;
    private static final short W_KEY = 0;
    private static final short W_KEY2 = 32;
    private static final short W_BUF = 64;
    private static final short W_SIZE = 64 + 400;

    Duplication(CardsmithApplet applet, HolderPin pin) {
        this.applet = applet;
        this.pin = pin;
        alg = applet.algorithms();
        cmac = new Cmac(alg);
        kdf = new Kdf256(cmac);
        aead = new Aead(alg, cmac, kdf);
        st = new byte[ST_SIZE];
        slots = new byte[(short) (Proto.KEY_GROUP_SLOTS * KEYLEN)];
        pair = P256.newKeyPair();
        ephemeral = P256.newEphemeralKeyPair();
        curve = new P256Check();
        w = JCSystem.makeTransientByteArray(W_SIZE, JCSystem.CLEAR_ON_DESELECT);
    }

    public short dispatch(byte ins, byte p1, byte p2, byte[] in, short inOff, short inLen) {
        try {
            switch (ins) {
                case Proto.INS_VERIFY:
                case Proto.INS_CHANGE_REFERENCE_DATA:
                case Proto.INS_PUT_PIN:
                case Proto.INS_RESET_RETRY_COUNTER:
                    return pin.dispatch(ins, p1, p2, in, inOff, inLen);
                case Proto.INS_PUT_KEY_GROUP_SLOT:
                    putSlot(p1, p2, in, inOff, inLen);
                    return 0;
                case Proto.INS_CLEAR_HOLDER_KEYS:
                    CardsmithApplet.requireP1P2(p1, p2);
                    clearHolderKeys();
                    return 0;
                case Proto.INS_LOCK_KEY_GROUP:
                    CardsmithApplet.requireP1P2(p1, p2);
                    if (st[ST_LOCKED] == 0) {
                        Tx.begin();
                        Tx.setByte(st, ST_LOCKED, (byte) 1);
                        Faults.point();
                        Tx.commit();
                    }
                    return 0;
                case Proto.INS_GENERATE_KEY_PAIR:
                    CardsmithApplet.requireP1P2(p1, p2);
                    return generate();
                case Proto.INS_GET_PUBLIC_KEY:
                    CardsmithApplet.requireP1P2(p1, p2);
                    if (st[ST_ROLE] == Proto.ROLE_NONE || st[ST_HAS_PUBLIC] == 0) {
                        ISOException.throwIt(Proto.SW_DATA_NOT_FOUND);
                    }
                    return ((ECPublicKey) pair.getPublic()).getW(applet.responseBuffer(), (short) 0);
                case Proto.INS_EXPORT_KEY:
                    return export(p1, p2, in, inOff, inLen);
                case Proto.INS_IMPORT_KEY:
                    CardsmithApplet.requireP1P2(p1, p2);
                    return importKey(in, inOff, inLen);
                case Proto.INS_CONFIRM_EXPORT:
                    CardsmithApplet.requireP1P2(p1, p2);
                    confirm(in, inOff, inLen);
                    return 0;
                case Proto.INS_DECRYPT:
                    return decrypt(p1, p2, in, inOff, inLen);
                case Proto.INS_REENCRYPT_FOR_PEER:
                    CardsmithApplet.requireP1P2(p1, p2);
                    return reencrypt(in, inOff, inLen);
                case Proto.INS_DUPLICATION_STATUS:
                    CardsmithApplet.requireP1P2(p1, p2);
                    return status();
                default:
                    ISOException.throwIt(Proto.SW_INS_NOT_SUPPORTED);
                    return 0;
            }
        } finally {
            Util.arrayFillNonAtomic(w, (short) 0, W_SIZE, (byte) 0); // no secret outlives the command
        }
    }

    /**
     * CLEAR_BUNDLE: everything back to freshly installed, so the card can take the next holder's PIN and
     * Key1. One small transaction first invalidates: role NONE (no key pair), no slot filled (Key1
     * included), unlocked, no export or import state, together with the slots' bytes (96) and the PIN
     * (HolderPin.clear, its own transaction). Only then are the key objects wiped, outside any
     * transaction: a power loss before that leaves old key values that no command will use (role NONE),
     * and CLEAR sent again wipes them.
     */
    public void clear() {
        Tx.begin();
        Tx.fill(st, (short) 0, ST_SIZE, (byte) 0); // ROLE_NONE, EXPORT_NONE, counter 0, ...
        Tx.fill(slots, (short) 0, (short) slots.length, (byte) 0);
        Tx.commit();
        pin.clear();
        Faults.point();
        wipe(pair);
        wipe(ephemeral);
    }

    /** Clears both keys of a pair; clearKey also drops the curve, which the next genKeyPair needs again. */
    private static void wipe(KeyPair keys) {
        ECPrivateKey priv = (ECPrivateKey) keys.getPrivate();
        ECPublicKey pub = (ECPublicKey) keys.getPublic();
        priv.clearKey();
        pub.clearKey();
        P256.setCurve(priv);
        P256.setCurve(pub);
    }

    /** Duplication's state is in DUPLICATION_STATUS: nothing for GET INFO. */
    /** No session: the export and import state is persistent and CLEAR resets it like the rest. */
    public boolean busy() {
        return false;
    }

    public short putInfo(byte[] out, short off) {
        return off;
    }

    private static void need(boolean condition, short sw) {
        if (!condition) {
            ISOException.throwIt(sw);
        }
    }

    private boolean groupComplete() {
        return st[ST_SLOTS] == (byte) ((1 << Proto.KEY_GROUP_SLOTS) - 1);
    }

    private void requireUsableGroup() {
        need(st[ST_LOCKED] == 0, Proto.SW_CONDITIONS_NOT_SATISFIED);
        need(groupComplete(), Proto.SW_CONDITIONS_NOT_SATISFIED);
    }

    // ------------------------------------------------------------------ key group

    private void putSlot(byte p1, byte p2, byte[] in, short inOff, short inLen) {
        need(p2 == 0 && p1 >= 1 && p1 <= Proto.KEY_GROUP_SLOTS, Proto.SW_INCORRECT_P1P2);
        if (p1 == 1) {
            // Key1 comes from the issuer: personalisation only (a P1-dependent condition the table cannot hold)
            need(applet.lifecycle() == Proto.LIFECYCLE_INSTALLED, Proto.SW_CONDITIONS_NOT_SATISFIED);
        } else {
            applet.requireAccess(Proto.ACCESS_PIN); // Key2, Key3 come from the holder
        }
        need(inLen == KEYLEN, Proto.SW_WRONG_LENGTH);
        need(st[ST_LOCKED] == 0, Proto.SW_CONDITIONS_NOT_SATISFIED);
        short off = (short) ((p1 - 1) * KEYLEN);
        byte bit = (byte) (1 << (p1 - 1));
        if ((st[ST_SLOTS] & bit) != 0) {
            // write-once: the same value again is a no-op (a retry after a lost response), another is refused
            need(Bytes.equalsConstantTime(slots, off, in, inOff, KEYLEN), Proto.SW_CONDITIONS_NOT_SATISFIED);
            return;
        }
        Tx.begin();
        Tx.copy(in, inOff, slots, off, KEYLEN);
        Tx.setByte(st, ST_SLOTS, (byte) (st[ST_SLOTS] | bit));
        Tx.commit();
    }

    private void clearHolderKeys() {
        need(st[ST_LOCKED] == 0 && st[ST_EXPORT] == Proto.EXPORT_NONE && st[ST_ROLE] != Proto.ROLE_BACKUP,
                Proto.SW_CONDITIONS_NOT_SATISFIED);
        Tx.begin();
        Tx.fill(slots, KEYLEN, (short) (slots.length - KEYLEN), (byte) 0);
        Tx.setByte(st, ST_SLOTS, (byte) (st[ST_SLOTS] & 1));
        Tx.commit();
    }

    /** w[W_KEY..+32) = KEK = SHA-256(N || Key1 || .. || KeyN). */
    private void kek() {
        MessageDigest sha = alg.sha256();
        sha.reset();
        sha.update(KEK_PREFIX, (short) 0, (short) 1);
        sha.doFinal(slots, (short) 0, (short) slots.length, w, W_KEY);
    }

    // ------------------------------------------------------------------ key pair

    private short keyId(byte[] point, short off, byte[] out, short outOff) {
        MessageDigest sha = alg.sha256();
        sha.reset();
        sha.doFinal(point, off, POINT, w, W_KEY2);
        return Util.arrayCopyNonAtomic(w, W_KEY2, out, outOff, Proto.KEY_ID_LENGTH);
    }

    private short generate() {
        need(st[ST_ROLE] == Proto.ROLE_NONE, Proto.SW_CONDITIONS_NOT_SATISFIED);
        alg.ecdh(); // fail with 6A81 before making a key the card could not use
        genFullLength(pair);
        byte[] rsp = applet.responseBuffer();
        short len = ((ECPublicKey) pair.getPublic()).getW(rsp, (short) 0);
        keyId(rsp, (short) 0, w, W_BUF);
        Faults.point();
        Tx.begin(); // the pair becomes valid only now
        Tx.copy(w, W_BUF, st, ST_KEY_ID, Proto.KEY_ID_LENGTH);
        Tx.setByte(st, ST_HAS_PUBLIC, (byte) 1);
        Tx.setByte(st, ST_ROLE, Proto.ROLE_MAIN);
        Tx.commit();
        return len;
    }

    /**
     * genKeyPair, again while the private scalar is shorter than 32 bytes (below 2^248, 1 in 256). jCardSim
     * mishandles such scalars in ECDH (about 1 in 256 shared secrets came out wrong); skipping them costs a
     * negligible 0.4% of the key space and nothing on cards that handle them.
     */
    private void genFullLength(KeyPair keys) {
        do {
            keys.genKeyPair();
        } while (((ECPrivateKey) keys.getPrivate()).getS(w, W_BUF) < SCALAR);
        Util.arrayFillNonAtomic(w, W_BUF, SCALAR, (byte) 0);
    }

    // ------------------------------------------------------------------ export / import

    /** Builds the export blob from the committed export state into out[0..); returns its length. */
    private short buildExport(byte[] out) {
        byte type = st[ST_EXPORT_TYPE];
        out[H_VERSION] = Proto.BLOB_VERSION;
        out[H_TYPE] = Proto.BLOB_KEY_EXPORT;
        out[H_KEY_TYPE] = type;
        out[H_SLOTS] = Proto.KEY_GROUP_SLOTS;
        Util.arrayCopyNonAtomic(applet.cardId(), (short) 0, out, H_SOURCE, Proto.CARD_ID_LENGTH);
        Util.arrayCopyNonAtomic(st, ST_EXPORT_DEST, out, H_DEST, Proto.CARD_ID_LENGTH);
        Util.arrayCopyNonAtomic(st, ST_KEY_ID, out, H_KEY_ID, Proto.KEY_ID_LENGTH);
        Util.arrayCopyNonAtomic(st, ST_COUNTER, out, H_COUNTER, (short) 2);
        Util.arrayCopyNonAtomic(st, ST_EXPORT_IV, out, HDR, Aead.IV_LENGTH);
        short pt = (short) (HDR + Aead.IV_LENGTH);
        // the scalar, left-padded to 32 bytes (getS may drop leading zeros)
        short sLen = ((ECPrivateKey) pair.getPrivate()).getS(w, W_BUF);
        Util.arrayFillNonAtomic(out, pt, SCALAR, (byte) 0);
        Util.arrayCopyNonAtomic(w, W_BUF, out, (short) (pt + SCALAR - sLen), sLen);
        short len = SCALAR;
        if (type == Proto.KEY_TYPE_PAIR) {
            len += ((ECPublicKey) pair.getPublic()).getW(out, (short) (pt + SCALAR));
        }
        short padded = Aead.pad(out, pt, len);
        Util.setShort(out, H_CT_LEN, padded);
        kek();
        return aead.seal(w, W_KEY, null, (short) 0, (short) 0, out, (short) 0, HDR, padded);
    }

    private short export(byte p1, byte p2, byte[] in, short inOff, short inLen) {
        need(p2 == 0 && (p1 == Proto.KEY_TYPE_PRIVATE || p1 == Proto.KEY_TYPE_PAIR), Proto.SW_INCORRECT_P1P2);
        need(st[ST_ROLE] != Proto.ROLE_NONE, Proto.SW_DATA_NOT_FOUND);
        need(st[ST_ROLE] == Proto.ROLE_MAIN, Proto.SW_CONDITIONS_NOT_SATISFIED); // a backup never exports
        requireUsableGroup();
        need(inLen == Proto.CARD_ID_LENGTH, Proto.SW_WRONG_LENGTH);
        need(Util.arrayCompare(in, inOff, applet.cardId(), (short) 0, Proto.CARD_ID_LENGTH) != 0,
                Proto.SW_WRONG_DATA);
        byte state = st[ST_EXPORT];
        need(state != Proto.EXPORT_CONFIRMED, Proto.SW_CONDITIONS_NOT_SATISFIED);
        if (state == Proto.EXPORT_PENDING) {
            // the lost-response rule: only the identical blob, to the same destination, again
            need(st[ST_EXPORT_TYPE] == p1
                    && Util.arrayCompare(in, inOff, st, ST_EXPORT_DEST, Proto.CARD_ID_LENGTH) == 0,
                    Proto.SW_CONDITIONS_NOT_SATISFIED);
        } else {
            alg.random().generateData(w, W_BUF, Aead.IV_LENGTH);
            Tx.begin(); // export-once: committed before any byte of the blob leaves the card
            Tx.copy(w, W_BUF, st, ST_EXPORT_IV, Aead.IV_LENGTH);
            Tx.copy(in, inOff, st, ST_EXPORT_DEST, Proto.CARD_ID_LENGTH);
            Tx.setByte(st, ST_EXPORT_TYPE, p1);
            Tx.setShort(st, ST_COUNTER, (short) (Util.getShort(st, ST_COUNTER) + 1));
            Tx.setByte(st, ST_EXPORT, Proto.EXPORT_PENDING);
            Tx.commit();
            Faults.point();
        }
        short len = buildExport(applet.responseBuffer());
        Faults.point();
        return len;
    }

    /** rsp[0..16) = receipt = CMAC(KDF(KEK, LABEL_RECEIPT), header || tag) of blob b (KEK in w). */
    private short receipt(byte[] b, short blobLen, byte[] out, short outOff) {
        kdf.derive(w, W_KEY, Kdf256.LABEL_RECEIPT, null, (short) 0, (short) 0, w, W_KEY2);
        // header || tag, assembled after the blob in the scratch area
        short at = (short) (W_BUF + 200);
        Util.arrayCopyNonAtomic(b, (short) 0, w, at, HDR);
        Util.arrayCopyNonAtomic(b, (short) (blobLen - Aead.TAG_LENGTH), w, (short) (at + HDR), Aead.TAG_LENGTH);
        cmac.mac(w, W_KEY2, w, at, (short) (HDR + Aead.TAG_LENGTH), out, outOff);
        return Aead.TAG_LENGTH;
    }

    private short importKey(byte[] in, short inOff, short inLen) {
        requireUsableGroup();
        need(inLen > HDR && inLen <= 200, Proto.SW_WRONG_LENGTH);
        short tagOff = (short) (inOff + inLen - Aead.TAG_LENGTH);
        byte role = st[ST_ROLE];
        if (role == Proto.ROLE_BACKUP) {
            // the same blob again (its receipt was lost): answer the same receipt, store nothing
            need(Bytes.equalsConstantTime(in, tagOff, st, ST_IMPORT_TAG, Aead.TAG_LENGTH),
                    Proto.SW_CONDITIONS_NOT_SATISFIED);
        } else {
            need(role == Proto.ROLE_NONE, Proto.SW_CONDITIONS_NOT_SATISFIED);
        }
        // header checks (the MAC covers them too)
        byte type = in[(short) (inOff + H_KEY_TYPE)];
        short ctLen = Util.getShort(in, (short) (inOff + H_CT_LEN));
        need(in[(short) (inOff + H_VERSION)] == Proto.BLOB_VERSION
                && in[(short) (inOff + H_TYPE)] == Proto.BLOB_KEY_EXPORT
                && in[(short) (inOff + H_SLOTS)] == Proto.KEY_GROUP_SLOTS
                && (type == Proto.KEY_TYPE_PRIVATE || type == Proto.KEY_TYPE_PAIR)
                && ctLen == (short) (type == Proto.KEY_TYPE_PAIR ? 112 : 48)
                && inLen == (short) (HDR + Aead.IV_LENGTH + ctLen + Aead.TAG_LENGTH)
                && Util.arrayCompare(in, (short) (inOff + H_DEST), applet.cardId(), (short) 0,
                        Proto.CARD_ID_LENGTH) == 0
                && Util.arrayCompare(in, (short) (inOff + H_SOURCE), applet.cardId(), (short) 0,
                        Proto.CARD_ID_LENGTH) != 0,
                Proto.SW_WRONG_DATA);
        short b = W_BUF;
        Util.arrayCopyNonAtomic(in, inOff, w, b, inLen);
        kek();
        short padded = aead.open(w, W_KEY, null, (short) 0, (short) 0, w, b, HDR, inLen);
        short pt = (short) (b + HDR + Aead.IV_LENGTH);
        short len = Aead.unpad(w, pt, padded);
        need(len == (short) (type == Proto.KEY_TYPE_PAIR ? SCALAR + POINT : SCALAR), Proto.SW_WRONG_DATA);
        if (role == Proto.ROLE_BACKUP) {
            return receipt(in, inLen, applet.responseBuffer(), (short) 0);
        }
        if (type == Proto.KEY_TYPE_PAIR) {
            need(curve.onCurve(w, (short) (pt + SCALAR)), Proto.SW_WRONG_DATA);
            // the key id in the header must be the public key's
            keyId(w, (short) (pt + SCALAR), w, W_KEY2);
            need(Util.arrayCompare(w, W_KEY2, in, (short) (inOff + H_KEY_ID), Proto.KEY_ID_LENGTH) == 0,
                    Proto.SW_WRONG_DATA);
        }
        // key objects first, marked valid last
        ((ECPrivateKey) pair.getPrivate()).setS(w, pt, SCALAR);
        if (type == Proto.KEY_TYPE_PAIR) {
            ((ECPublicKey) pair.getPublic()).setW(w, (short) (pt + SCALAR), POINT);
        }
        Faults.point();
        Tx.begin();
        Tx.copy(in, (short) (inOff + H_KEY_ID), st, ST_KEY_ID, Proto.KEY_ID_LENGTH);
        Tx.copy(in, (short) (inOff + H_SOURCE), st, ST_SOURCE, Proto.CARD_ID_LENGTH);
        Tx.copy(in, tagOff, st, ST_IMPORT_TAG, Aead.TAG_LENGTH);
        Tx.setByte(st, ST_IMPORT_TYPE, type);
        Tx.setByte(st, ST_HAS_PUBLIC, (byte) (type == Proto.KEY_TYPE_PAIR ? 1 : 0));
        Tx.setByte(st, ST_ROLE, Proto.ROLE_BACKUP);
        Tx.commit();
        Faults.point();
        return receipt(in, inLen, applet.responseBuffer(), (short) 0);
    }

    private void confirm(byte[] in, short inOff, short inLen) {
        need(st[ST_ROLE] == Proto.ROLE_MAIN && st[ST_EXPORT] != Proto.EXPORT_NONE, Proto.SW_CONDITIONS_NOT_SATISFIED);
        need(inLen == Aead.TAG_LENGTH, Proto.SW_WRONG_LENGTH);
        // the blob is rebuilt (deterministic) and its receipt recomputed under our key group
        short at = 256;
        byte[] rsp = applet.responseBuffer();
        short len = buildExport(rsp);
        kek();
        receipt(rsp, len, rsp, at);
        boolean same = Bytes.equalsConstantTime(rsp, at, in, inOff, Aead.TAG_LENGTH);
        Util.arrayFillNonAtomic(rsp, (short) 0, (short) (at + Aead.TAG_LENGTH), (byte) 0);
        need(same, Proto.SW_WRONG_DATA);
        if (st[ST_EXPORT] != Proto.EXPORT_CONFIRMED) {
            Tx.begin();
            Tx.setByte(st, ST_EXPORT, Proto.EXPORT_CONFIRMED);
            Faults.point();
            Tx.commit();
            Faults.point();
        }
    }

    // ------------------------------------------------------------------ in-card use

    /**
     * Opens the envelope at in[off..off+len) addressed to this card into w[W_BUF..): returns the data-key
     * length; the key is at w[W_BUF + ENV_HDR + 16].
     */
    private short openEnvelope(byte[] in, short off, short len) {
        need(st[ST_ROLE] != Proto.ROLE_NONE, Proto.SW_DATA_NOT_FOUND);
        need(len >= (short) (ENV_HDR + Aead.IV_LENGTH + 16 + Aead.TAG_LENGTH)
                && len <= (short) (ENV_HDR + Aead.IV_LENGTH + MAX_DATA_KEY + 16 + Aead.TAG_LENGTH),
                Proto.SW_WRONG_LENGTH);
        need(in[off] == Proto.BLOB_VERSION && in[(short) (off + 1)] == Proto.BLOB_ENVELOPE
                && Util.getShort(in, (short) (off + E_CT_LEN)) == (short) (len - ENV_HDR - Aead.IV_LENGTH
                        - Aead.TAG_LENGTH)
                && Util.arrayCompare(in, (short) (off + E_KEY_ID), st, ST_KEY_ID, Proto.KEY_ID_LENGTH) == 0,
                Proto.SW_WRONG_DATA);
        ecdh(pair, in, (short) (off + E_POINT));
        Util.arrayCopyNonAtomic(in, off, w, W_BUF, len);
        short padded = aead.open(w, W_KEY, st, ST_KEY_ID, Proto.KEY_ID_LENGTH, w, W_BUF, ENV_HDR, len);
        return Aead.unpad(w, (short) (W_BUF + ENV_HDR + Aead.IV_LENGTH), padded);
    }

    /**
     * w[W_KEY..+32) = x of ECDH(keys's private key, point). A point that is not on P-256 is 6A80: checked
     * here (P256Check) before the private key touches it, whatever the card's KeyAgreement would do with it
     * (cards may throw CryptoException.ILLEGAL_VALUE, jCardSim throws an unchecked exception of its library).
     */
    private void ecdh(KeyPair keys, byte[] point, short off) {
        need(curve.onCurve(point, off), Proto.SW_WRONG_DATA);
        KeyAgreement ka = alg.ecdh();
        ka.init(keys.getPrivate());
        short len = 0;
        try {
            len = ka.generateSecret(point, off, POINT, w, W_KEY);
        } catch (RuntimeException e) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        if (len < SCALAR) {
            // a secret with leading zero bytes may come back short (jCardSim does): left-pad to 32 bytes
            Util.arrayCopyNonAtomic(w, W_KEY, w, (short) (W_KEY + SCALAR - len), len);
            Util.arrayFillNonAtomic(w, W_KEY, (short) (SCALAR - len), (byte) 0);
        }
    }

    private short decrypt(byte p1, byte p2, byte[] in, short inOff, short inLen) {
        need(p2 == 0 && (p1 == 0 || p1 == 1), Proto.SW_INCORRECT_P1P2);
        short keyLen = openEnvelope(in, inOff, inLen);
        short keyOff = (short) (W_BUF + ENV_HDR + Aead.IV_LENGTH);
        byte[] rsp = applet.responseBuffer();
        if (p1 == 0) {
            return Util.arrayCopyNonAtomic(w, keyOff, rsp, (short) 0, keyLen);
        }
        MessageDigest sha = alg.sha256();
        sha.reset();
        sha.update(KCV_PREFIX, (short) 0, (short) KCV_PREFIX.length);
        sha.doFinal(w, keyOff, keyLen, w, W_KEY2);
        return Util.arrayCopyNonAtomic(w, W_KEY2, rsp, (short) 0, Proto.KEY_ID_LENGTH);
    }

    private short reencrypt(byte[] in, short inOff, short inLen) {
        need(inLen > POINT, Proto.SW_WRONG_LENGTH);
        need(in[inOff] == 0x04, Proto.SW_WRONG_DATA);
        short keyLen = openEnvelope(in, (short) (inOff + POINT), (short) (inLen - POINT));
        short keyOff = (short) (W_BUF + ENV_HDR + Aead.IV_LENGTH);
        byte[] out = applet.responseBuffer();
        // new envelope: header, fresh ephemeral key, shared secret with the peer's key
        out[0] = Proto.BLOB_VERSION;
        out[1] = Proto.BLOB_ENVELOPE;
        keyId(in, inOff, out, E_KEY_ID);
        // the curve before every generation: the transient private key loses it at deselect, clearKey drops
        // it, and a power cut after a clearKey must not leave the pair unusable
        P256.setCurve((ECPrivateKey) ephemeral.getPrivate());
        P256.setCurve((ECPublicKey) ephemeral.getPublic());
        genFullLength(ephemeral);
        ((ECPublicKey) ephemeral.getPublic()).getW(out, E_POINT);
        ecdh(ephemeral, in, inOff);
        ((ECPrivateKey) ephemeral.getPrivate()).clearKey(); // forget the ephemeral secret now, not at deselect
        alg.random().generateData(out, ENV_HDR, Aead.IV_LENGTH);
        short pt = (short) (ENV_HDR + Aead.IV_LENGTH);
        Util.arrayCopyNonAtomic(w, keyOff, out, pt, keyLen);
        short padded = Aead.pad(out, pt, keyLen);
        Util.setShort(out, E_CT_LEN, padded);
        return aead.seal(w, W_KEY, out, E_KEY_ID, Proto.KEY_ID_LENGTH, out, (short) 0, ENV_HDR, padded);
    }

    // ------------------------------------------------------------------ status

    private short status() {
        byte[] r = applet.responseBuffer();
        short off = Tlv.putHeader(r, (short) 0, Proto.TAG_DUP_ROLE, (short) 1);
        r[off++] = st[ST_ROLE];
        off = Tlv.putHeader(r, off, Proto.TAG_DUP_PIN, (short) 3);
        r[off++] = (byte) (pin.isSet() ? 1 : 0);
        r[off++] = pin.triesLeft();
        r[off++] = (byte) (pin.verified() ? 1 : 0);
        off = Tlv.putHeader(r, off, Proto.TAG_DUP_SLOTS, (short) 2);
        r[off++] = Proto.KEY_GROUP_SLOTS;
        r[off++] = st[ST_SLOTS];
        off = Tlv.putHeader(r, off, Proto.TAG_DUP_LOCKED, (short) 1);
        r[off++] = st[ST_LOCKED];
        if (st[ST_ROLE] != Proto.ROLE_NONE) {
            off = Tlv.putHeader(r, off, Proto.TAG_DUP_KEY_ID, Proto.KEY_ID_LENGTH);
            off = Util.arrayCopyNonAtomic(st, ST_KEY_ID, r, off, Proto.KEY_ID_LENGTH);
        }
        off = Tlv.putHeader(r, off, Proto.TAG_DUP_EXPORT, (short) 12);
        r[off++] = st[ST_EXPORT];
        off = Util.arrayCopyNonAtomic(st, ST_COUNTER, r, off, (short) 2);
        off = Util.arrayCopyNonAtomic(st, ST_EXPORT_DEST, r, off, Proto.CARD_ID_LENGTH);
        r[off++] = st[ST_EXPORT_TYPE];
        if (st[ST_ROLE] == Proto.ROLE_BACKUP) {
            off = Tlv.putHeader(r, off, Proto.TAG_DUP_SOURCE, (short) 9);
            off = Util.arrayCopyNonAtomic(st, ST_SOURCE, r, off, Proto.CARD_ID_LENGTH);
            r[off++] = st[ST_IMPORT_TYPE];
        }
        if (groupComplete()) {
            kek();
            off = Tlv.putHeader(r, off, Proto.TAG_DUP_GROUP_CHECK, (short) 8);
            Util.arrayCopyNonAtomic(GROUP_CHECK, (short) 0, w, W_BUF, (short) 4);
            cmac.mac(w, W_KEY, w, W_BUF, (short) 4, w, W_KEY2);
            off = Util.arrayCopyNonAtomic(w, W_KEY2, r, off, (short) 8);
        }
        return off;
    }
}
