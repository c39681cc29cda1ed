package cardsmith.applet;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.ECPublicKey;
import javacard.security.KeyPair;
import javacard.security.MessageDigest;
import javacard.security.Signature;

/**
 * Capability "identity" (docs/identity.md, JP H06-162289 with its holes closed): the issuer-signed identity a
 * terminal verifies offline, PIN registration under the set number Ns, and card-signed usage records.
 *
 * <p>Personalisation (INSTALLED): PUT_IDENTITY stores Nt, Ns, IDU and the expiry, makes the salt of the Ns
 * commitment and answers the commitment and the identity public key (the key pair is made here at install, a
 * pair of its own, separate from the trust key); PUT_IDENTITY_SIGNATURES stores SA2 and SA1 after checking
 * both against the trust issuer key. From then on nothing of it changes.
 *
 * <p>Use: GET_IDENTITY (what SA1 covers), AUTHENTICATE_CARD (a signature over the terminal's nonce and the
 * card's own, after the PIN with P1=01), GENERATE_USAGE_RECORD (PIN, then ATC + 1 and the signed record
 * committed together before the answer leaves), GET_LAST_RECORD.
 *
 * <p>Registration (a session with permission identity): BEGIN_REGISTRATION fixes R and X and signs them,
 * VERIFY_SET_NUMBER spends a persistent Ns try before comparing (zero tries: invalid for good),
 * REGISTER_PIN checks the terminal's ST under the session certificate's key and stores the PIN. The
 * registration state is transient and ends with the session (CardsmithApplet.sessionEnded).
 *
 * <p>Invalid: {@link #invalid()} is what the dispatcher's one gate (CardsmithApplet.run) asks.
 */
final class Identity implements Capability {
    /** Persistent, written through Tx: flags (ID_FLAG_SIGNED), Nt length, Ns length, ATC (4), last record length (2). */
    private final byte[] st;
    private static final short ST_FLAGS = 0;
    private static final short ST_NT_LEN = 1;
    private static final short ST_NS_LEN = 2;
    private static final short ST_ATC = 3;
    private static final short ST_LAST_LEN = 7;
    private static final short ST_SIZE = 9;
    /** Persistent, written only non-atomically (a rollback must not give a try back or lift the mark): [0] Ns tries, [1] invalid. */
    private final byte[] guard;
    private final byte[] nt;
    private final byte[] ns;
    private final byte[] salt;
    private final byte[] idu;
    private final byte[] expiry;
    private final byte[] sa2;
    private final byte[] sa1;
    private final byte[] last;
    private static final short SIG = 64;
    private static final short DER_MAX = 72;
    private static final short NONCE = Proto.ID_NONCE_LENGTH;
    private static final short IDU_LEN = 8;
    private static final short LAST_SIZE = (short) (Proto.ID_RECORD_LENGTH + Proto.ID_NT_MAX_LENGTH + DER_MAX);

    private static final byte[] COMMIT_LABEL = {'c', 'a', 'r', 'd', 's', 'm', 'i', 't', 'h', '-', 'n', 's', '/', '1'};
    private static final byte[] SA2_LABEL = {'C', 'S', 'A', '2'};
    private static final byte[] SA1_LABEL = {'C', 'S', 'A', '1'};
    private static final byte[] SU_LABEL = {'C', 'S', 'U', '1'};
    private static final byte[] ST_LABEL = {'C', 'S', 'T', '1'};
    private static final byte[] RECORD_LABEL = {'C', 'U', 'R', '1'};

    private final CardsmithApplet applet;
    private final Algorithms alg;
    private final Trust trust;
    private final HolderPin pin;
    private final KeyPair keys;
    /** Transient: [0] the registration stage (REG_*), then R and X of this registration. */
    private final byte[] reg;
    private static final short REG_R = 1;
    private static final short REG_X = (short) (REG_R + NONCE);
    private static final byte REG_NONE = 0;
    private static final byte REG_BEGUN = 1;
    private static final byte REG_NS_OK = 2;
    /** Transient: R and X of an AUTHENTICATE_CARD (never a registration's). */
    private final byte[] nonces;
    /** Transient scratch for the messages signed or checked. */
    private final byte[] w;
    private static final short W_SIZE = 200;

    Identity(CardsmithApplet applet, Trust trust) {
        this.applet = applet;
        this.trust = trust;
        alg = applet.algorithms();
        pin = applet.holderPin();
        st = new byte[ST_SIZE];
        guard = new byte[2];
        guard[0] = Proto.ID_NS_TRY_LIMIT;
        nt = new byte[Proto.ID_NT_MAX_LENGTH];
        ns = new byte[Proto.ID_NS_MAX_LENGTH];
        salt = new byte[Proto.ID_SALT_LENGTH];
        idu = new byte[IDU_LEN];
        expiry = new byte[2];
        sa2 = new byte[SIG];
        sa1 = new byte[SIG];
        last = new byte[LAST_SIZE];
        reg = JCSystem.makeTransientByteArray((short) (1 + 2 * NONCE), JCSystem.CLEAR_ON_DESELECT);
        nonces = JCSystem.makeTransientByteArray((short) (2 * NONCE), JCSystem.CLEAR_ON_DESELECT);
        w = JCSystem.makeTransientByteArray(W_SIZE, JCSystem.CLEAR_ON_DESELECT);
        keys = P256.newKeyPair();
        keys.genKeyPair(); // the identity key pair, made on the card once, at install; never leaves it
    }

    public short dispatch(byte ins, byte p1, byte p2, byte[] in, short inOff, short inLen) {
        switch (ins) {
            case Proto.INS_PUT_IDENTITY:
                CardsmithApplet.requireP1P2(p1, p2);
                return putIdentity(in, inOff, inLen);
            case Proto.INS_PUT_IDENTITY_SIGNATURES:
                CardsmithApplet.requireP1P2(p1, p2);
                putSignatures(in, inOff, inLen);
                return 0;
            case Proto.INS_GET_IDENTITY:
                CardsmithApplet.requireP1P2(p1, p2);
                return getIdentity();
            case Proto.INS_AUTHENTICATE_CARD:
                if (p2 != 0 || (p1 != Proto.ID_PURPOSE_CARD && p1 != Proto.ID_PURPOSE_PIN)) {
                    ISOException.throwIt(Proto.SW_INCORRECT_P1P2);
                }
                return authenticateCard(p1, in, inOff, inLen);
            case Proto.INS_GENERATE_USAGE_RECORD:
                CardsmithApplet.requireP1P2(p1, p2);
                return generateRecord(in, inOff, inLen);
            case Proto.INS_GET_LAST_RECORD:
                CardsmithApplet.requireP1P2(p1, p2);
                return lastRecord();
            case Proto.INS_BEGIN_REGISTRATION:
                CardsmithApplet.requireP1P2(p1, p2);
                return beginRegistration(in, inOff, inLen);
            case Proto.INS_VERIFY_SET_NUMBER:
                CardsmithApplet.requireP1P2(p1, p2);
                verifySetNumber(in, inOff, inLen);
                return 0;
            case Proto.INS_REGISTER_PIN:
                CardsmithApplet.requireP1P2(p1, p2);
                registerPin(in, inOff, inLen);
                return 0;
            case Proto.INS_MARK_INVALID:
                CardsmithApplet.requireP1P2(p1, p2);
                markInvalid();
                return 0;
            default:
                ISOException.throwIt(Proto.SW_INS_NOT_SUPPORTED);
                return 0;
        }
    }

    /** The dispatcher's gate: the card is invalid for good (marked, or every Ns try spent). */
    boolean invalid() {
        return guard[1] != 0 || guard[0] == 0;
    }

    /** A session ended (Trust.end through the applet): so does any registration begun in it. */
    void sessionEnded() {
        Util.arrayFillNonAtomic(reg, (short) 0, (short) reg.length, (byte) 0);
    }

    private boolean signed() {
        return (st[ST_FLAGS] & Proto.ID_FLAG_SIGNED) != 0;
    }

    private void requireSigned() {
        if (!signed()) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
        }
    }

    // ---------------------------------------------------------------- personalisation

    private short putIdentity(byte[] in, short off, short len) {
        if (signed()) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED); // fixed once signed
        }
        if (len < (short) (IDU_LEN + 2 + 1)) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        short ntOff = (short) (off + IDU_LEN + 3);
        short ntLen = (short) (in[(short) (ntOff - 1)] & 0xFF);
        short nsLenOff = (short) (ntOff + ntLen);
        if (ntLen < 1 || ntLen > Proto.ID_NT_MAX_LENGTH || (short) (nsLenOff - off) >= len) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        short nsLen = (short) (in[nsLenOff] & 0xFF);
        short nsOff = (short) (nsLenOff + 1);
        if (nsLen < Proto.ID_NS_MIN_LENGTH || nsLen > Proto.ID_NS_MAX_LENGTH
                || (short) (nsOff + nsLen - off) != len) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        if (!digits(in, ntOff, ntLen) || !digits(in, nsOff, nsLen)) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        alg.random().generateData(w, (short) 0, Proto.ID_SALT_LENGTH);
        Tx.begin();
        Tx.copy(w, (short) 0, salt, (short) 0, Proto.ID_SALT_LENGTH);
        Tx.copy(in, off, idu, (short) 0, IDU_LEN);
        Tx.copy(in, (short) (off + IDU_LEN), expiry, (short) 0, (short) 2);
        Tx.fill(nt, (short) 0, Proto.ID_NT_MAX_LENGTH, (byte) 0);
        Tx.copy(in, ntOff, nt, (short) 0, ntLen);
        Tx.fill(ns, (short) 0, Proto.ID_NS_MAX_LENGTH, (byte) 0);
        Tx.copy(in, nsOff, ns, (short) 0, nsLen);
        Tx.setByte(st, ST_NT_LEN, (byte) ntLen);
        Tx.setByte(st, ST_NS_LEN, (byte) nsLen);
        Faults.point();
        Tx.commit();
        Util.arrayFillNonAtomic(w, (short) 0, W_SIZE, (byte) 0);
        Faults.point(); // stored, the answer lost: PUT_IDENTITY again (a new salt) before signing
        byte[] rsp = applet.responseBuffer();
        commit(rsp, (short) 0);
        return (short) (32 + ((ECPublicKey) keys.getPublic()).getW(rsp, (short) 32));
    }

    /** The Ns commitment SHA-256("cardsmith-ns/1" || salt || Ns length || Ns), from the salt only the card has. */
    private void commit(byte[] out, short o) {
        MessageDigest sha = alg.sha256();
        sha.reset();
        sha.update(COMMIT_LABEL, (short) 0, (short) COMMIT_LABEL.length);
        sha.update(salt, (short) 0, Proto.ID_SALT_LENGTH);
        sha.update(st, ST_NS_LEN, (short) 1);
        sha.doFinal(ns, (short) 0, st[ST_NS_LEN], out, o);
    }

    private static boolean digits(byte[] b, short off, short len) {
        for (short i = 0; i < len; i++) {
            byte c = b[(short) (off + i)];
            if (c < (byte) 0x30 || c > (byte) 0x39) {
                return false;
            }
        }
        return true;
    }

    private void putSignatures(byte[] in, short off, short len) {
        if (signed() || st[ST_NT_LEN] == 0 || !trust.hasIssuerKey()) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
        }
        if (len != (short) (2 * SIG)) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        short n = sa2Message(w, (short) 0);
        if (!trust.verifyIssuerSignature(w, (short) 0, n, in, off)) {
            ISOException.throwIt(Proto.SW_SECURITY_STATUS_NOT_SATISFIED);
        }
        n = sa1Message(w, (short) 0, in, off);
        if (!trust.verifyIssuerSignature(w, (short) 0, n, in, (short) (off + SIG))) {
            ISOException.throwIt(Proto.SW_SECURITY_STATUS_NOT_SATISFIED);
        }
        Tx.begin();
        Tx.copy(in, off, sa2, (short) 0, SIG);
        Tx.copy(in, (short) (off + SIG), sa1, (short) 0, SIG);
        Tx.setByte(st, ST_FLAGS, (byte) (st[ST_FLAGS] | Proto.ID_FLAG_SIGNED));
        Faults.point();
        Tx.commit();
        Faults.point(); // signed, the answer lost: GET_IDENTITY shows it
    }

    /** "CSA2" || DF 20 commitment (computed again from the salt: the card keeps no copy of it). */
    private short sa2Message(byte[] out, short o) {
        short p = Util.arrayCopyNonAtomic(SA2_LABEL, (short) 0, out, o, (short) SA2_LABEL.length);
        p = Tlv.putHeader(out, p, Proto.TAG_ID_COMMITMENT, (short) 32);
        commit(out, p);
        return (short) (p + 32 - o);
    }

    /** "CSA1" || D8 Nt || DC SA2 || DB identity key || D9 IDU || DA expiry, with SA2 from sig[sigOff]. */
    private short sa1Message(byte[] out, short o, byte[] sig, short sigOff) {
        short p = Util.arrayCopyNonAtomic(SA1_LABEL, (short) 0, out, o, (short) SA1_LABEL.length);
        p = putNt(out, p);
        p = Tlv.putHeader(out, p, Proto.TAG_ID_SA2, SIG);
        p = Util.arrayCopyNonAtomic(sig, sigOff, out, p, SIG);
        p = Tlv.putHeader(out, p, Proto.TAG_ID_PUBLIC_KEY, P256.POINT_LENGTH);
        p = (short) (p + ((ECPublicKey) keys.getPublic()).getW(out, p));
        p = putIdu(out, p);
        p = Tlv.putHeader(out, p, Proto.TAG_ID_EXPIRY, (short) 2);
        return (short) (Util.arrayCopyNonAtomic(expiry, (short) 0, out, p, (short) 2) - o);
    }

    private short putNt(byte[] out, short p) {
        short n = st[ST_NT_LEN];
        p = Tlv.putHeader(out, p, Proto.TAG_ID_NT, n);
        return Util.arrayCopyNonAtomic(nt, (short) 0, out, p, n);
    }

    private short putIdu(byte[] out, short p) {
        p = Tlv.putHeader(out, p, Proto.TAG_ID_CARD_NUMBER, IDU_LEN);
        return Util.arrayCopyNonAtomic(idu, (short) 0, out, p, IDU_LEN);
    }

    // ---------------------------------------------------------------- use

    private short getIdentity() {
        if (!signed()) {
            ISOException.throwIt(Proto.SW_DATA_NOT_FOUND);
        }
        byte[] rsp = applet.responseBuffer();
        short p = putNt(rsp, (short) 0);
        p = Tlv.putHeader(rsp, p, Proto.TAG_ID_SA2, SIG);
        p = Util.arrayCopyNonAtomic(sa2, (short) 0, rsp, p, SIG);
        p = Tlv.putHeader(rsp, p, Proto.TAG_ID_SA1, SIG);
        p = Util.arrayCopyNonAtomic(sa1, (short) 0, rsp, p, SIG);
        p = Tlv.putHeader(rsp, p, Proto.TAG_ID_PUBLIC_KEY, P256.POINT_LENGTH);
        p = (short) (p + ((ECPublicKey) keys.getPublic()).getW(rsp, p));
        p = putIdu(rsp, p);
        p = Tlv.putHeader(rsp, p, Proto.TAG_ID_EXPIRY, (short) 2);
        p = Util.arrayCopyNonAtomic(expiry, (short) 0, rsp, p, (short) 2);
        p = Tlv.putHeader(rsp, p, Proto.TAG_ID_STATE, (short) 7);
        byte flags = st[ST_FLAGS];
        if (pin.isSet()) {
            flags |= Proto.ID_FLAG_PIN_SET;
        }
        if (invalid()) {
            flags |= Proto.ID_FLAG_INVALID;
        }
        rsp[p++] = flags;
        rsp[p++] = guard[0];
        rsp[p++] = pin.triesLeft();
        return Util.arrayCopyNonAtomic(st, ST_ATC, rsp, p, (short) 4);
    }

    /** X (fresh) then the identity key's signature over "CSU1" || purpose || R || X || D8 Nt || D9 IDU, into rsp. */
    private short signChallenge(byte purpose, byte[] r, short rOff, byte[] x, short xOff) {
        short p = Util.arrayCopyNonAtomic(SU_LABEL, (short) 0, w, (short) 0, (short) SU_LABEL.length);
        w[p++] = purpose;
        p = Util.arrayCopyNonAtomic(r, rOff, w, p, NONCE);
        p = Util.arrayCopyNonAtomic(x, xOff, w, p, NONCE);
        p = putNt(w, p);
        p = putIdu(w, p);
        byte[] rsp = applet.responseBuffer();
        Util.arrayCopyNonAtomic(x, xOff, rsp, (short) 0, NONCE);
        Signature sig = alg.ecdsa();
        sig.init(keys.getPrivate(), Signature.MODE_SIGN);
        short n = sig.sign(w, (short) 0, p, rsp, NONCE);
        Util.arrayFillNonAtomic(w, (short) 0, W_SIZE, (byte) 0);
        return (short) (NONCE + n);
    }

    private short authenticateCard(byte purpose, byte[] in, short off, short len) {
        requireSigned();
        if (purpose == Proto.ID_PURPOSE_CARD ? len != NONCE : len <= NONCE) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        if (purpose == Proto.ID_PURPOSE_PIN) {
            pin.checkCandidate(in, (short) (off + NONCE), (short) (len - NONCE));
        }
        Util.arrayCopyNonAtomic(in, off, nonces, (short) 0, NONCE);
        alg.random().generateData(nonces, NONCE, NONCE);
        return signChallenge(purpose, nonces, (short) 0, nonces, NONCE);
    }

    private short generateRecord(byte[] in, short off, short len) {
        requireSigned();
        short fixed = (short) (NONCE + 8 + 4 + 4);
        if (len <= fixed) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        if (st[ST_ATC] == (byte) 0xFF && st[(short) (ST_ATC + 1)] == (byte) 0xFF
                && st[(short) (ST_ATC + 2)] == (byte) 0xFF && st[(short) (ST_ATC + 3)] == (byte) 0xFF) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED); // the ATC never wraps
        }
        pin.checkCandidate(in, (short) (off + fixed), (short) (len - fixed));
        // the record: D8 Nt || D9 IDU || terminal id (8) || time (4) || charge (4) || ATC + 1 (4) || R (16)
        short p = Util.arrayCopyNonAtomic(RECORD_LABEL, (short) 0, w, (short) 0, (short) RECORD_LABEL.length);
        p = putNt(w, p);
        p = putIdu(w, p);
        p = Util.arrayCopyNonAtomic(in, (short) (off + NONCE), w, p, (short) 16);
        short atc = p;
        p = Util.arrayCopyNonAtomic(st, ST_ATC, w, p, (short) 4);
        for (short i = 3; i >= 0; i--) { // + 1, big-endian
            short at = (short) (atc + i);
            w[at]++;
            if (w[at] != 0) {
                break;
            }
        }
        p = Util.arrayCopyNonAtomic(in, off, w, p, NONCE);
        short body = (short) (p - RECORD_LABEL.length);
        Signature sig = alg.ecdsa();
        sig.init(keys.getPrivate(), Signature.MODE_SIGN);
        short n = sig.sign(w, (short) 0, p, w, p);
        short total = (short) (body + n);
        // ATC and last record together, committed before the answer leaves: a lost answer is in GET_LAST_RECORD
        Tx.begin();
        Tx.copy(w, atc, st, ST_ATC, (short) 4);
        Tx.copy(w, (short) RECORD_LABEL.length, last, (short) 0, total);
        Tx.setShort(st, ST_LAST_LEN, total);
        Faults.point();
        Tx.commit();
        Faults.point(); // the ATC consumed and the record kept: the answer lost is no record lost
        Util.arrayCopyNonAtomic(w, (short) RECORD_LABEL.length, applet.responseBuffer(), (short) 0, total);
        Util.arrayFillNonAtomic(w, (short) 0, W_SIZE, (byte) 0);
        return total;
    }

    private short lastRecord() {
        short n = Util.getShort(st, ST_LAST_LEN);
        if (n == 0) {
            ISOException.throwIt(Proto.SW_DATA_NOT_FOUND);
        }
        return Util.arrayCopyNonAtomic(last, (short) 0, applet.responseBuffer(), (short) 0, n);
    }

    // ---------------------------------------------------------------- registration

    private short beginRegistration(byte[] in, short off, short len) {
        requireSigned();
        if (len != NONCE) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        sessionEnded();
        Util.arrayCopyNonAtomic(in, off, reg, REG_R, NONCE);
        alg.random().generateData(reg, REG_X, NONCE);
        short n = signChallenge(Proto.ID_PURPOSE_REGISTRATION, reg, REG_R, reg, REG_X);
        reg[0] = REG_BEGUN;
        return n;
    }

    private void verifySetNumber(byte[] in, short off, short len) {
        if (reg[0] != REG_BEGUN) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
        }
        if (len < Proto.ID_NS_MIN_LENGTH || len > Proto.ID_NS_MAX_LENGTH) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH); // malformed: no try spent
        }
        byte left = guard[0];
        if (left == 0) {
            ISOException.throwIt(Proto.SW_AUTH_METHOD_BLOCKED);
        }
        left--;
        Util.arrayFillNonAtomic(guard, (short) 0, (short) 1, left); // spent before comparing
        Faults.point(); // a power loss here has spent the try
        boolean ok = len == st[ST_NS_LEN] & Bytes.equalsConstantTime(in, off, ns, (short) 0, len);
        if (!ok) {
            if (left == 0) {
                Util.arrayFillNonAtomic(guard, (short) 1, (short) 1, (byte) 1); // invalid for good
                sessionEnded();
                ISOException.throwIt(Proto.SW_AUTH_METHOD_BLOCKED);
            }
            ISOException.throwIt((short) (Proto.SW_VERIFY_FAILED | left));
        }
        Util.arrayFillNonAtomic(guard, (short) 0, (short) 1, Proto.ID_NS_TRY_LIMIT);
        reg[0] = REG_NS_OK;
    }

    private void registerPin(byte[] in, short off, short len) {
        if (reg[0] != REG_NS_OK) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
        }
        short pinLen = (short) (len - SIG);
        if (pinLen < Proto.PIN_MIN_LENGTH || pinLen > Proto.PIN_MAX_LENGTH) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        reg[0] = REG_NONE; // one try: a wrong ST ends the registration
        // "CST1" || R || X || D8 Nt || PIN length || PIN, signed by this session's certified terminal key
        short p = Util.arrayCopyNonAtomic(ST_LABEL, (short) 0, w, (short) 0, (short) ST_LABEL.length);
        p = Util.arrayCopyNonAtomic(reg, REG_R, w, p, (short) (2 * NONCE));
        p = putNt(w, p);
        w[p++] = (byte) pinLen;
        p = Util.arrayCopyNonAtomic(in, (short) (off + SIG), w, p, pinLen);
        boolean ok = trust.verifySessionSignature(w, (short) 0, p, in, off);
        Util.arrayFillNonAtomic(w, (short) 0, W_SIZE, (byte) 0);
        sessionEnded();
        if (!ok) {
            ISOException.throwIt(Proto.SW_SECURITY_STATUS_NOT_SATISFIED);
        }
        pin.register(in, (short) (off + SIG), pinLen);
    }

    private void markInvalid() {
        Util.arrayFillNonAtomic(guard, (short) 1, (short) 1, (byte) 1);
        sessionEnded();
        Faults.point(); // marked, the answer lost: GET_IDENTITY shows ID_FLAG_INVALID
    }

    // ---------------------------------------------------------------- Capability

    /**
     * CLEAR (INSTALLED only): the identity goes (Nt, Ns zeroed, unsigned); the ATC, the Ns tries and the
     * invalid mark stay (they only ever move one way), and so does the key pair (it is the card's).
     */
    public void clear() {
        Tx.begin();
        Tx.setByte(st, ST_FLAGS, (byte) 0);
        Tx.setByte(st, ST_NT_LEN, (byte) 0);
        Tx.setByte(st, ST_NS_LEN, (byte) 0);
        Tx.setShort(st, ST_LAST_LEN, (short) 0);
        Tx.fill(ns, (short) 0, Proto.ID_NS_MAX_LENGTH, (byte) 0);
        Tx.fill(nt, (short) 0, Proto.ID_NT_MAX_LENGTH, (byte) 0);
        Tx.fill(salt, (short) 0, Proto.ID_SALT_LENGTH, (byte) 0);
        Tx.commit();
        sessionEnded();
    }

    public boolean busy() {
        return false;
    }

    public short putInfo(byte[] out, short off) {
        return off;
    }
}
