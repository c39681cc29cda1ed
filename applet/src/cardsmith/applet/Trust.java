package cardsmith.applet;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.ECPrivateKey;
import javacard.security.ECPublicKey;
import javacard.security.KeyAgreement;
import javacard.security.KeyBuilder;
import javacard.security.KeyPair;
import javacard.security.MessageDigest;
import javacard.security.PrivateKey;
import javacard.security.Signature;

/**
 * Capability "trust" (docs/security.md): the issuer's root key, card-verifiable certificates, the card's
 * own key pair and the authenticated session.
 *
 * <p>PUT_ISSUER_KEY sets the root key once (INSTALLED only; CLEAR keeps it). The card's key pair is
 * generated here at install; PUT_CARD_CERTIFICATE stores the issuer's certificate of it, once.
 * OPEN_SESSION makes an ephemeral key pair (the card's challenge) and sends it with the card's
 * certificate; AUTHENTICATE takes the host's certificate, its ephemeral key and its signature over both
 * ephemeral keys, checks them, derives the session keys from ECDH(card ephemeral, host ephemeral) and
 * ECDH(card static, host ephemeral), answers a receipt that only the holder of the certified card key can
 * compute, and opens secure messaging ({@link SecureMessaging}) with the certificate's permissions as the
 * applet's session permissions. Validity without a clock (BSI TR-03110): the card's date is the most
 * recent effective date of a valid certificate it has seen; a certificate that expired before it is
 * refused.
 */
final class Trust implements Capability {
    /** Persistent: [ST_FLAGS] TRUST_ISSUER_KEY | TRUST_CARD_CERT, [ST_DATE..+2) the card's date, the issuer key id. */
    private final byte[] st;
    private static final short ST_FLAGS = 0;
    private static final short ST_DATE = 1;
    private static final short ST_ISSUER_ID = 3;
    private static final short ST_SIZE = (short) (ST_ISSUER_ID + Proto.KEY_ID_LENGTH);
    private final byte[] cardCert;

    // A certificate's layout (Proto.CERT_LENGTH bytes): tag, length, value each, in this order.
    private static final byte[] CERT_FIELDS = {
        (byte) 0x80, 1, (byte) 0x81, 8, (byte) 0x82, 1, (byte) 0x83, 2, (byte) 0x84, 65, (byte) 0x85, 2,
        (byte) 0x86, 2, (byte) 0x87, 8, (byte) 0x8F, 64};
    private static final short C_VERSION = 2;
    private static final short C_HOLDER = 5;
    private static final short C_ROLE = 15;
    private static final short C_PERMS = 18;
    private static final short C_KEY = 22;
    private static final short C_EFFECTIVE = 89;
    private static final short C_EXPIRY = 93;
    private static final short C_ISSUER = 97;
    private static final short C_SIG = 107;
    /** What the host signs in AUTHENTICATE, before card id || card ephemeral || host ephemeral || certificate. */
    private static final byte[] SESSION_LABEL = {(byte) 'C', (byte) 'S', (byte) 'S', (byte) '1'};
    private static final byte LABEL_ENC = (byte) 0x04;
    private static final byte LABEL_MAC = (byte) 0x06;
    private static final byte LABEL_RMAC = (byte) 0x07;
    private static final byte LABEL_RECEIPT = (byte) 0x09;
    private static final short POINT = P256.POINT_LENGTH;
    private static final short SCALAR = P256.SCALAR_LENGTH;

    private final CardsmithApplet applet;
    private final Algorithms alg;
    private final Kdf256 kdf;
    private final Cmac cmac;
    private final SecureMessaging sm;
    private final ECPublicKey issuerKey;
    private final ECPublicKey peerKey;
    private final KeyPair cardKeys;
    private final KeyPair ephemeral;
    /** Transient: [0] the set-up stage (STAGE_*), [1] 1 while the current command arrived secured. */
    private final byte[] stage;
    private static final byte STAGE_NONE = 0;
    private static final byte STAGE_CHALLENGED = 1;
    /** Transient scratch: card ephemeral point, then two ECDH secrets (or a DER signature), then K. */
    private final byte[] w;
    private static final short W_POINT = 0;
    private static final short W_Z = 65;
    private static final short W_DER = 65;
    private static final short W_K = 129;
    private static final short W_SIZE = 161;

    Trust(CardsmithApplet applet) {
        this.applet = applet;
        alg = applet.algorithms();
        cmac = new Cmac(alg);
        kdf = new Kdf256(cmac);
        sm = new SecureMessaging(alg, cmac);
        st = new byte[ST_SIZE];
        cardCert = new byte[Proto.CERT_LENGTH];
        issuerKey = (ECPublicKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_BITS, false);
        P256.setCurve(issuerKey);
        peerKey = (ECPublicKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_BITS, false);
        P256.setCurve(peerKey);
        stage = JCSystem.makeTransientByteArray((short) 2, JCSystem.CLEAR_ON_DESELECT);
        w = JCSystem.makeTransientByteArray(W_SIZE, JCSystem.CLEAR_ON_DESELECT);
        cardKeys = P256.newKeyPair();
        genFullLength(cardKeys); // the card's own key pair, made on the card once, at install
        ephemeral = P256.newEphemeralKeyPair(); // the private scalar in RAM where the card has the type
    }

    public short dispatch(byte ins, byte p1, byte p2, byte[] in, short inOff, short inLen) {
        switch (ins) {
            case Proto.INS_PUT_ISSUER_KEY:
                CardsmithApplet.requireP1P2(p1, p2);
                putIssuerKey(in, inOff, inLen);
                return 0;
            case Proto.INS_PUT_CARD_CERTIFICATE:
                CardsmithApplet.requireP1P2(p1, p2);
                putCardCertificate(in, inOff, inLen);
                return 0;
            case Proto.INS_GET_CARD_CERTIFICATE:
                return getCardCertificate(p1, p2);
            case Proto.INS_OPEN_SESSION:
                CardsmithApplet.requireP1P2(p1, p2);
                return openSession();
            case Proto.INS_AUTHENTICATE:
                CardsmithApplet.requireP1P2(p1, p2);
                return authenticate(in, inOff, inLen);
            default:
                ISOException.throwIt(Proto.SW_INS_NOT_SUPPORTED);
                return 0;
        }
    }

    // ---------------------------------------------------------------- the transport layer's calls

    /** A command starts (CardsmithApplet.process): not secured until unwrap says so. */
    void commandStart() {
        stage[1] = 0;
    }

    boolean sessionOpen() {
        return sm.open();
    }

    /** The secured command in buf[0..len) checked and decrypted in place; a bad one ends the session: 6988. */
    short unwrap(byte cla, byte ins, byte p1, byte p2, byte[] buf, short len) {
        short n = sm.unwrap(cla, ins, p1, p2, buf, len);
        if (n < 0) {
            end();
            ISOException.throwIt(Proto.SW_SM_DATA_INCORRECT);
        }
        if (n > Proto.COMMAND_BUFFER_SIZE) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        stage[1] = 1;
        return n;
    }

    /** The successful response in buf[0..len) encrypted and MACed in place; returns its new length. */
    short wrap(byte[] buf, short len) {
        return sm.wrap(buf, len);
    }

    /**
     * Ends the session (a plain command inside it, a bad MAC, a new OPEN_SESSION, CLEAR): keys wiped, no
     * permissions, and the PIN's verified state ends too (it may have been verified inside the session).
     */
    void end() {
        if (sm.open() || stage[0] != STAGE_NONE) {
            wipeEphemeral();
        }
        sm.end();
        stage[0] = STAGE_NONE;
        applet.setSessionPermissions((short) 0);
        applet.sessionEnded();
    }

    // ---------------------------------------------------------------- for the identity capability

    boolean hasIssuerKey() {
        return (st[ST_FLAGS] & Proto.TRUST_ISSUER_KEY) != 0;
    }

    /** Whether rs[rsOff..+64) (r || s) is the issuer key's ECDSA-SHA256 signature over m[off..off+len). */
    boolean verifyIssuerSignature(byte[] m, short off, short len, byte[] rs, short rsOff) {
        if (!hasIssuerKey()) {
            return false;
        }
        return verifyRaw(issuerKey, m, off, len, rs, rsOff);
    }

    /**
     * Whether rs[rsOff..+64) is a signature over m[off..off+len) by the key of the certificate that opened
     * the session now open (AUTHENTICATE left it in peerKey; nothing else writes it while the session lasts).
     */
    boolean verifySessionSignature(byte[] m, short off, short len, byte[] rs, short rsOff) {
        if (!sm.open()) {
            return false;
        }
        return verifyRaw(peerKey, m, off, len, rs, rsOff);
    }

    private boolean verifyRaw(ECPublicKey key, byte[] m, short off, short len, byte[] rs, short rsOff) {
        short derLen = der(rs, rsOff, w, W_DER);
        Signature sig = alg.ecdsa();
        sig.init(key, Signature.MODE_VERIFY);
        boolean ok = verify(sig, m, off, len, w, W_DER, derLen);
        Util.arrayFillNonAtomic(w, W_DER, (short) 72, (byte) 0);
        return ok;
    }

    // ---------------------------------------------------------------- personalisation

    private void putIssuerKey(byte[] in, short inOff, short inLen) {
        if (inLen != POINT) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        if ((st[ST_FLAGS] & Proto.TRUST_ISSUER_KEY) != 0) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED); // fixed once set
        }
        if (in[inOff] != 0x04) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        issuerKey.setW(in, inOff, POINT); // not valid until the flag below is committed
        MessageDigest sha = alg.sha256();
        sha.reset();
        sha.doFinal(in, inOff, POINT, w, W_K);
        Faults.point();
        Tx.begin();
        Tx.copy(w, W_K, st, ST_ISSUER_ID, Proto.KEY_ID_LENGTH);
        Tx.setByte(st, ST_FLAGS, (byte) (st[ST_FLAGS] | Proto.TRUST_ISSUER_KEY));
        Tx.commit();
        Util.arrayFillNonAtomic(w, (short) 0, W_SIZE, (byte) 0);
        Faults.point(); // set, and the answer lost: the host finds the key id in GET INFO (a second PUT is 6985)
    }

    private void putCardCertificate(byte[] in, short inOff, short inLen) {
        if (inLen != Proto.CERT_LENGTH) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        if ((st[ST_FLAGS] & Proto.TRUST_ISSUER_KEY) == 0 || (st[ST_FLAGS] & Proto.TRUST_CARD_CERT) != 0) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
        }
        verifyCertificate(in, inOff);
        ((ECPublicKey) cardKeys.getPublic()).getW(w, W_POINT);
        if (in[(short) (inOff + C_ROLE)] != Proto.CERT_ROLE_CARD
                || Util.arrayCompare(in, (short) (inOff + C_HOLDER), applet.cardId(), (short) 0,
                        Proto.CARD_ID_LENGTH) != 0
                || Util.arrayCompare(in, (short) (inOff + C_KEY), w, W_POINT, POINT) != 0) {
            ISOException.throwIt(Proto.SW_WRONG_DATA); // a valid certificate, but not of this card's key
        }
        Tx.begin();
        Tx.copy(in, inOff, cardCert, (short) 0, Proto.CERT_LENGTH);
        Tx.setByte(st, ST_FLAGS, (byte) (st[ST_FLAGS] | Proto.TRUST_CARD_CERT));
        advanceDate(in, inOff);
        Faults.point();
        Tx.commit();
        Faults.point(); // stored, and the answer lost: GET_CARD_CERTIFICATE gives it back
    }

    private short getCardCertificate(byte p1, byte p2) {
        if (p2 != 0 || (p1 != 0 && p1 != 1)) {
            ISOException.throwIt(Proto.SW_INCORRECT_P1P2);
        }
        byte[] rsp = applet.responseBuffer();
        if (p1 == 1) {
            return ((ECPublicKey) cardKeys.getPublic()).getW(rsp, (short) 0);
        }
        if ((st[ST_FLAGS] & Proto.TRUST_CARD_CERT) == 0) {
            ISOException.throwIt(Proto.SW_DATA_NOT_FOUND);
        }
        return Util.arrayCopyNonAtomic(cardCert, (short) 0, rsp, (short) 0, Proto.CERT_LENGTH);
    }

    // ---------------------------------------------------------------- the session

    private short openSession() {
        if (stage[1] != 0) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED); // set-up goes in clear
        }
        end();
        if ((st[ST_FLAGS] & (byte) (Proto.TRUST_ISSUER_KEY | Proto.TRUST_CARD_CERT))
                != (byte) (Proto.TRUST_ISSUER_KEY | Proto.TRUST_CARD_CERT)) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
        }
        alg.ecdh(); // 6A81 before anything when the card cannot do it
        // a transient private key loses its curve at deselect, and clearKey drops it: set it before each use
        P256.setCurve((ECPrivateKey) ephemeral.getPrivate());
        P256.setCurve((ECPublicKey) ephemeral.getPublic());
        genFullLength(ephemeral);
        Faults.point(); // a challenge made and never sent: select() wipes it (staleEphemeral)
        stage[0] = STAGE_CHALLENGED;
        byte[] rsp = applet.responseBuffer();
        short off = ((ECPublicKey) ephemeral.getPublic()).getW(rsp, (short) 0);
        return Util.arrayCopyNonAtomic(cardCert, (short) 0, rsp, off, Proto.CERT_LENGTH);
    }

    private short authenticate(byte[] in, short inOff, short inLen) {
        if (stage[1] != 0 || stage[0] != STAGE_CHALLENGED) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
        }
        stage[0] = STAGE_NONE; // one try per challenge
        try {
            return authenticateChallenged(in, inOff, inLen);
        } finally {
            wipeEphemeral();
            Util.arrayFillNonAtomic(w, (short) 0, W_SIZE, (byte) 0);
        }
    }

    private short authenticateChallenged(byte[] in, short inOff, short inLen) {
        if (inLen != (short) (Proto.CERT_LENGTH + POINT + 64)) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        verifyCertificate(in, inOff);
        byte role = in[(short) (inOff + C_ROLE)];
        if (role != Proto.CERT_ROLE_STATION && role != Proto.CERT_ROLE_TERMINAL && role != Proto.CERT_ROLE_SERVICE) {
            ISOException.throwIt(Proto.SW_SECURITY_STATUS_NOT_SATISFIED); // a card's certificate opens nothing
        }
        short hostEph = (short) (inOff + Proto.CERT_LENGTH);
        short sigOff = (short) (hostEph + POINT);
        if (in[hostEph] != 0x04) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        // proof of possession: the certificate's key signed both ephemeral keys, this card and the certificate
        peerKey.setW(in, (short) (inOff + C_KEY), POINT);
        ((ECPublicKey) ephemeral.getPublic()).getW(w, W_POINT);
        short derLen = der(in, sigOff, w, W_DER);
        Signature sig = alg.ecdsa();
        sig.init(peerKey, Signature.MODE_VERIFY);
        sig.update(SESSION_LABEL, (short) 0, (short) SESSION_LABEL.length);
        sig.update(applet.cardId(), (short) 0, Proto.CARD_ID_LENGTH);
        sig.update(w, W_POINT, POINT);
        sig.update(in, hostEph, POINT);
        if (!verify(sig, in, inOff, Proto.CERT_LENGTH, w, W_DER, derLen)) {
            ISOException.throwIt(Proto.SW_SECURITY_STATUS_NOT_SATISFIED);
        }
        // K = SHA-256(Z1 || Z2 || card ephemeral || host ephemeral); the session keys from K by Kdf256
        ecdh(ephemeral.getPrivate(), in, hostEph, W_Z);
        ecdh(cardKeys.getPrivate(), in, hostEph, (short) (W_Z + SCALAR));
        MessageDigest sha = alg.sha256();
        sha.reset();
        sha.update(w, W_Z, (short) (2 * SCALAR));
        sha.update(w, W_POINT, POINT);
        sha.doFinal(in, hostEph, POINT, w, W_K);
        byte[] id = applet.cardId();
        byte[] keys = sm.keys();
        kdf.derive(w, W_K, LABEL_ENC, id, (short) 0, Proto.CARD_ID_LENGTH, keys, SecureMessaging.KEY_ENC);
        kdf.derive(w, W_K, LABEL_MAC, id, (short) 0, Proto.CARD_ID_LENGTH, keys, SecureMessaging.KEY_MAC);
        kdf.derive(w, W_K, LABEL_RMAC, id, (short) 0, Proto.CARD_ID_LENGTH, keys, SecureMessaging.KEY_RMAC);
        kdf.derive(w, W_K, LABEL_RECEIPT, id, (short) 0, Proto.CARD_ID_LENGTH, w, W_Z);
        byte[] rsp = applet.responseBuffer();
        Util.arrayCopyNonAtomic(w, W_POINT, rsp, Cmac.BLOCK, POINT);
        Util.arrayCopyNonAtomic(in, hostEph, rsp, (short) (Cmac.BLOCK + POINT), POINT);
        cmac.mac(w, W_Z, rsp, Cmac.BLOCK, (short) (2 * POINT), rsp, (short) 0);
        if (later(in, (short) (inOff + C_EFFECTIVE), st, ST_DATE)) {
            Tx.begin();
            advanceDate(in, inOff);
            Tx.commit();
        }
        Faults.point(); // the date moved on, no session yet
        sm.start();
        applet.setSessionPermissions(Util.getShort(in, (short) (inOff + C_PERMS)));
        Faults.point(); // the session open, its receipt not sent: the power loss ends it (all transient)
        return Cmac.BLOCK;
    }

    /**
     * Checks a certificate at c[off..off+CERT_LENGTH): its layout and version (6A80), its issuer key id and
     * signature under the issuer key, and its validity against the card's date (6982).
     */
    private void verifyCertificate(byte[] c, short off) {
        short p = off;
        for (short i = 0; i < (short) CERT_FIELDS.length; i += 2) {
            if (c[p] != CERT_FIELDS[i] || c[(short) (p + 1)] != CERT_FIELDS[(short) (i + 1)]) {
                ISOException.throwIt(Proto.SW_WRONG_DATA);
            }
            p += (short) (2 + CERT_FIELDS[(short) (i + 1)]);
        }
        if (c[(short) (off + C_VERSION)] != Proto.CERT_VERSION || c[(short) (off + C_KEY)] != 0x04) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        if ((st[ST_FLAGS] & Proto.TRUST_ISSUER_KEY) == 0
                || Util.arrayCompare(c, (short) (off + C_ISSUER), st, ST_ISSUER_ID, Proto.KEY_ID_LENGTH) != 0) {
            ISOException.throwIt(Proto.SW_SECURITY_STATUS_NOT_SATISFIED); // another issuer's
        }
        short derLen = der(c, (short) (off + C_SIG), w, W_DER);
        Signature sig = alg.ecdsa();
        sig.init(issuerKey, Signature.MODE_VERIFY);
        if (!verify(sig, c, off, Proto.CERT_BODY_LENGTH, w, W_DER, derLen)
                || later(c, (short) (off + C_EFFECTIVE), c, (short) (off + C_EXPIRY))
                || later(st, ST_DATE, c, (short) (off + C_EXPIRY))) {
            ISOException.throwIt(Proto.SW_SECURITY_STATUS_NOT_SATISFIED); // forged, or expired before the card's date
        }
    }

    /** Signature.verify; a signature the platform cannot even parse counts as false. */
    static boolean verify(Signature sig, byte[] m, short mOff, short mLen, byte[] s, short sOff, short sLen) {
        try {
            return sig.verify(m, mOff, mLen, s, sOff, sLen);
        } catch (RuntimeException e) {
            Faults.passPowerLoss(e);
            return false;
        }
    }

    /** Whether the date (2 bytes, unsigned days since 2000-01-01) at a[aOff] is after the one at b[bOff]. */
    static boolean later(byte[] a, short aOff, byte[] b, short bOff) {
        return (short) (Util.getShort(a, aOff) ^ (short) 0x8000) > (short) (Util.getShort(b, bOff) ^ (short) 0x8000);
    }

    /** Inside a transaction: the card's date becomes the certificate's effective date if that is later. */
    private void advanceDate(byte[] c, short off) {
        if (later(c, (short) (off + C_EFFECTIVE), st, ST_DATE)) {
            Tx.copy(c, (short) (off + C_EFFECTIVE), st, ST_DATE, (short) 2);
        }
    }

    /** The DER encoding (SEQUENCE of two INTEGERs) of the raw signature r || s at rs[off]; returns its length. */
    static short der(byte[] rs, short off, byte[] out, short o) {
        out[o] = 0x30;
        short p = derInteger(rs, off, out, (short) (o + 2));
        p = derInteger(rs, (short) (off + SCALAR), out, p);
        out[(short) (o + 1)] = (byte) (p - o - 2);
        return (short) (p - o);
    }

    private static short derInteger(byte[] src, short off, byte[] out, short p) {
        short i = 0;
        while (i < (short) (SCALAR - 1) && src[(short) (off + i)] == 0) {
            i++;
        }
        short n = (short) (SCALAR - i);
        boolean high = (src[(short) (off + i)] & 0x80) != 0;
        out[p++] = 0x02;
        out[p++] = (byte) (high ? n + 1 : n);
        if (high) {
            out[p++] = 0;
        }
        return Util.arrayCopyNonAtomic(src, (short) (off + i), out, p, n);
    }

    /** w[out..+32) = x of ECDH(priv, point at in[off]), left-padded; a point not on P-256 is 6A80. */
    private void ecdh(PrivateKey priv, byte[] in, short off, short out) {
        KeyAgreement ka = alg.ecdh();
        ka.init(priv);
        short len = 0;
        try {
            len = ka.generateSecret(in, off, POINT, w, out);
        } catch (RuntimeException e) {
            Faults.passPowerLoss(e);
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        if (len < SCALAR) {
            Util.arrayCopyNonAtomic(w, out, w, (short) (out + SCALAR - len), len);
            Util.arrayFillNonAtomic(w, out, (short) (SCALAR - len), (byte) 0);
        }
    }

    /** genKeyPair until the private scalar has 32 bytes (jCardSim mishandles shorter ones in ECDH; Duplication). */
    private void genFullLength(KeyPair keys) {
        do {
            keys.genKeyPair();
        } while (((ECPrivateKey) keys.getPrivate()).getS(w, W_K) < SCALAR);
        Util.arrayFillNonAtomic(w, W_K, SCALAR, (byte) 0);
    }

    /**
     * Select (CardsmithApplet.select): a power loss between OPEN_SESSION and the end of AUTHENTICATE left the
     * ephemeral private key (a persistent key object) set; it is wiped before anything else runs, so no
     * challenge outlives its selection (forward secrecy does not depend on the host finishing the set-up).
     */
    void wipeStaleEphemeral() {
        if (ephemeral.getPrivate().isInitialized()) {
            wipeEphemeral();
        }
    }

    /** The ephemeral private key is never kept: cleared, and the curve set again for the next genKeyPair. */
    private void wipeEphemeral() {
        ECPrivateKey priv = (ECPrivateKey) ephemeral.getPrivate();
        priv.clearKey();
        P256.setCurve(priv);
    }

    // ---------------------------------------------------------------- for the update capability

    /** Whether the current command arrived secured in an authenticated session. */
    boolean secured() {
        return stage[1] != 0 && sm.open();
    }

    /** Whether the issuer key is set and its key id is the one at id[off..off+KEY_ID_LENGTH). */
    boolean isIssuer(byte[] id, short off) {
        return (st[ST_FLAGS] & Proto.TRUST_ISSUER_KEY) != 0
                && Util.arrayCompare(id, off, st, ST_ISSUER_ID, Proto.KEY_ID_LENGTH) == 0;
    }

    /** sig (the applet's ECDSA object) initialised to verify a signature by the issuer key. */
    void initIssuerVerify(Signature sig) {
        sig.init(issuerKey, Signature.MODE_VERIFY);
    }

    /** The card's date (days since 2000-01-01, the latest effective date of a valid certificate seen). */
    short date() {
        return Util.getShort(st, ST_DATE);
    }

    /**
     * Checks a remote-update service's certificate at c[off..off+CERT_LENGTH) like any certificate (6A80,
     * 6982) and that its role is CERT_ROLE_SERVICE (6982); sets key to its public key.
     */
    void checkServiceCertificate(byte[] c, short off, ECPublicKey key) {
        verifyCertificate(c, off);
        if (c[(short) (off + C_ROLE)] != Proto.CERT_ROLE_SERVICE) {
            ISOException.throwIt(Proto.SW_SECURITY_STATUS_NOT_SATISFIED);
        }
        key.setW(c, (short) (off + C_KEY), POINT);
        Util.arrayFillNonAtomic(w, (short) 0, W_SIZE, (byte) 0);
    }

    // ---------------------------------------------------------------- Capability

    /** The issuer key, the card's key and certificate and the card's date are fixed: CLEAR ends the session only. */
    public void clear() {
        end();
    }

    /** The session is who the terminal is, not an operation in progress: it does not hold CLEAR off. */
    public boolean busy() {
        return false;
    }

    public short putInfo(byte[] out, short off) {
        off = Tlv.putHeader(out, off, Proto.TAG_INFO_TRUST, (short) (1 + Proto.KEY_ID_LENGTH + 4));
        out[off++] = (byte) (st[ST_FLAGS] | (sm.open() ? Proto.TRUST_SESSION : 0));
        off = Util.arrayCopyNonAtomic(st, ST_ISSUER_ID, out, off, Proto.KEY_ID_LENGTH);
        off = Util.arrayCopyNonAtomic(st, ST_DATE, out, off, (short) 2);
        return Util.setShort(out, off, applet.sessionPermissions());
    }
}
