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
import javacard.security.Signature;

/**
 * Capability "update" (docs/update.md): remote data update, JP2003-337923 with its holes closed.
 *
 * <p>Two key pairs are generated here at install: the device-authentication key (ECDSA: it signs the
 * session's nonces and the acknowledgements, and nothing else) and the decryption key (ECDH: it opens
 * packages that passed the issuer's signature, and nothing else). The issuer certifies both in the update
 * certificate (PUT_UPDATE_CERTIFICATE, once), which is the issuer authenticator the client and the server
 * check. INTERNAL_AUTHENTICATE (after the holder PIN) signs label || card id || a fresh card nonce || the
 * server's nonce and opens the update session (transient). DELIVER_UPDATE streams a package into the
 * record's inactive slot outside any transaction, checks the issuer's signature over it and the service's
 * signature binding its hash to this session, checks version, expiry and operation, decrypts (mode 1, in
 * place) or test-opens it (mode 2, in RAM), and switches the record's slot, state, version, length and hash
 * in one 40-byte transaction: a pulled card has the old record or the new one.
 */
final class RemoteUpdate implements Capability {
    private static final byte[] CERT_LABEL = {(byte) 'C', (byte) 'S', (byte) 'U', (byte) 'C'};
    private static final byte[] AUTH_LABEL = {(byte) 'C', (byte) 'S', (byte) 'U', (byte) 'A'};
    private static final byte[] PACKAGE_LABEL = {(byte) 'C', (byte) 'S', (byte) 'U', (byte) 'P'};
    private static final byte[] DELIVERY_LABEL = {(byte) 'C', (byte) 'S', (byte) 'U', (byte) 'D'};
    private static final byte[] ACK_LABEL = {(byte) 'C', (byte) 'S', (byte) 'U', (byte) 'K'};
    private static final short POINT = P256.POINT_LENGTH;
    private static final short SCALAR = P256.SCALAR_LENGTH;
    private static final short RS = 64;

    // the update certificate's layout
    private static final short UC_CARD = 1;
    private static final short UC_ISSUER = 9;
    private static final short UC_AUTH = 17;
    private static final short UC_DEC = 82;
    private static final short UC_BODY = 147;

    // a package header's layout (Proto.UPDATE_HEADER_LENGTH bytes)
    private static final short H_CARD = 1;
    private static final short H_RECORD = 9;
    private static final short H_OP = 10;
    private static final short H_MODE = 11;
    private static final short H_VERSION = 12;
    private static final short H_EXPIRY = 16;
    private static final short H_LENGTH = 18;
    private static final short H_POINT = 20;
    private static final short H_CT_LENGTH = 85;
    private static final short HDR = Proto.UPDATE_HEADER_LENGTH;
    private static final short ENVELOPE = (short) (Aead.IV_LENGTH + Aead.TAG_LENGTH);

    // per-record metadata (persistent, written through Tx)
    private static final short M_ACTIVE = 0;
    private static final short M_STATE = 1;
    private static final short M_VERSION = 2;
    private static final short M_LENGTH = 6;
    private static final short M_HASH = 8;
    private static final short META = 40;

    // the update session (transient)
    private static final short T_STAGE = 0;
    private static final short T_RECORD = 1;
    private static final short T_CARD_NONCE = 2;
    private static final short T_SERVER_NONCE = (short) (T_CARD_NONCE + Proto.UPDATE_CARD_NONCE_LENGTH);
    private static final short T_DATE = (short) (T_SERVER_NONCE + Proto.UPDATE_NONCE_LENGTH);
    private static final short T_DSIG = (short) (T_DATE + 2);
    private static final short T_SIZE = (short) (T_DSIG + RS);
    private static final byte STAGE_NONE = 0;
    private static final byte STAGE_AUTHENTICATED = 1;
    private static final byte STAGE_RECEIVING = 2;

    // scratch (transient)
    private static final short W_DER = 0;
    private static final short W_HASH = 72;
    private static final short W_Z = 104;
    private static final short W_SIZE = 136;

    private final CardsmithApplet applet;
    private final Trust trust;
    private final Algorithms alg;
    private final Aead aead;
    private final P256Check curve;
    private final KeyPair authKeys;
    private final KeyPair decKeys;
    private final ECPublicKey serviceKey;
    private final short records;
    private final short recordSize;
    private final short slotSize;
    /** Two slots per record: a slot holds a package as received (header || IV || ciphertext || tag). */
    private final byte[] store;
    private final byte[] meta;
    private final byte[] cert;
    /** Persistent: [0] UPDATE_FLAG_CERT | KEYS. */
    private final byte[] flags;
    /** flags: the two key pairs are generated (internal; GET INFO reports UPDATE_FLAG_CERT only). */
    private static final byte KEYS = (byte) 0x80;
    private final byte[] t;
    /** Transient: [0] bytes of IV || ciphertext || tag received, [1] how many the header announced. */
    private final short[] n;
    private final byte[] w;

    RemoteUpdate(CardsmithApplet applet, Trust trust, byte[] params, short off, short len) {
        this.applet = applet;
        this.trust = trust;
        alg = applet.algorithms();
        Cmac cmac = new Cmac(alg);
        aead = new Aead(alg, cmac, new Kdf256(cmac));
        curve = new P256Check();
        records = InstallParams.findShort(params, off, len, Proto.TAG_INSTALL_UPDATE_RECORDS,
                Proto.DEFAULT_UPDATE_RECORDS);
        recordSize = InstallParams.findShort(params, off, len, Proto.TAG_INSTALL_UPDATE_RECORD_SIZE,
                Proto.DEFAULT_UPDATE_RECORD_SIZE);
        if (records < 1 || records > Proto.UPDATE_MAX_RECORDS || recordSize < 16
                || recordSize > Proto.UPDATE_MAX_RECORD_SIZE) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        slotSize = (short) (HDR + ENVELOPE + padded(recordSize));
        if ((short) (32767 / slotSize) < (short) (2 * records)) {
            ISOException.throwIt(Proto.SW_NOT_ENOUGH_MEMORY); // the slots must fit one array
        }
        store = new byte[(short) (slotSize * (short) (2 * records))];
        meta = new byte[(short) (META * records)];
        cert = new byte[Proto.UPDATE_CERT_LENGTH];
        flags = new byte[1];
        t = JCSystem.makeTransientByteArray(T_SIZE, JCSystem.CLEAR_ON_DESELECT);
        n = JCSystem.makeTransientShortArray((short) 2, JCSystem.CLEAR_ON_DESELECT);
        w = JCSystem.makeTransientByteArray(W_SIZE, JCSystem.CLEAR_ON_DESELECT);
        serviceKey = (ECPublicKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PUBLIC, P256.KEY_BITS, false);
        P256.setCurve(serviceKey);
        authKeys = P256.newKeyPair(); // generated at the first GENERATE_UPDATE_KEYS (keysOnce)
        decKeys = P256.newKeyPair();
    }

    /** The ciphertext length of a payload of len bytes (ISO 9797-1 method 2 padding: at least one byte). */
    private static short padded(short len) {
        return (short) ((short) (len / Cmac.BLOCK + 1) * Cmac.BLOCK);
    }

    public short dispatch(byte ins, byte p1, byte p2, byte[] in, short inOff, short inLen) {
        switch (ins) {
            case Proto.INS_GET_UPDATE_CERTIFICATE:
                CardsmithApplet.requireP1P2(p1, p2);
                return getCertificate();
            case Proto.INS_GENERATE_UPDATE_KEYS:
                CardsmithApplet.requireP1P2(p1, p2);
                return generateKeys();
            case Proto.INS_PUT_UPDATE_CERTIFICATE:
                CardsmithApplet.requireP1P2(p1, p2);
                putCertificate(in, inOff, inLen);
                return 0;
            case Proto.INS_INTERNAL_AUTHENTICATE:
                CardsmithApplet.requireP1P2(p1, p2);
                return authenticate(in, inOff, inLen);
            case Proto.INS_DELIVER_UPDATE:
                return deliver(p1, p2, in, inOff, inLen);
            case Proto.INS_USE_DATA:
                return useData(p1, p2);
            case Proto.INS_READ_RECORD:
                return readRecord(p1, p2);
            case Proto.INS_UPDATE_STATUS:
                CardsmithApplet.requireP1P2(p1, p2);
                return status();
            default:
                ISOException.throwIt(Proto.SW_INS_NOT_SUPPORTED);
                return 0;
        }
    }

    private static void need(boolean ok, short sw) {
        if (!ok) {
            ISOException.throwIt(sw);
        }
    }

    // ---------------------------------------------------------------- the issuer authenticator

    private short getCertificate() {
        need((flags[0] & Proto.UPDATE_FLAG_CERT) != 0, Proto.SW_DATA_NOT_FOUND);
        return Util.arrayCopyNonAtomic(cert, (short) 0, applet.responseBuffer(), (short) 0, Proto.UPDATE_CERT_LENGTH);
    }

    /** The two update public keys, generated on the first call (INSTALLED only: the dispatcher's table). */
    private short generateKeys() {
        keysOnce();
        byte[] rsp = applet.responseBuffer();
        short off = ((ECPublicKey) authKeys.getPublic()).getW(rsp, (short) 0);
        return (short) (off + ((ECPublicKey) decKeys.getPublic()).getW(rsp, off));
    }

    /**
     * Generates the two key pairs on the card, once: the first GENERATE_UPDATE_KEYS, before
     * the issuer certifies them (a pulled card before the flag is committed generates them again, which is
     * harmless: nothing certified them yet). Not at install: a card's update keys are made when it is
     * personalised for updates.
     */
    private void keysOnce() {
        if ((flags[0] & KEYS) != 0) {
            return;
        }
        genFullLength(authKeys);
        genFullLength(decKeys);
        Faults.point();
        Tx.begin();
        Tx.setByte(flags, (short) 0, (byte) (flags[0] | KEYS));
        Tx.commit();
    }

    private void putCertificate(byte[] in, short inOff, short inLen) {
        need(inLen == Proto.UPDATE_CERT_LENGTH, Proto.SW_WRONG_LENGTH);
        need((flags[0] & KEYS) != 0, Proto.SW_CONDITIONS_NOT_SATISFIED); // keys not generated yet
        need((flags[0] & Proto.UPDATE_FLAG_CERT) == 0, Proto.SW_CONDITIONS_NOT_SATISFIED);
        need(in[inOff] == Proto.UPDATE_FORMAT, Proto.SW_WRONG_DATA);
        need(trust.isIssuer(in, (short) (inOff + UC_ISSUER)), Proto.SW_SECURITY_STATUS_NOT_SATISFIED);
        Signature sig = alg.ecdsa();
        trust.initIssuerVerify(sig);
        sig.update(CERT_LABEL, (short) 0, (short) CERT_LABEL.length);
        short derLen = Trust.der(in, (short) (inOff + UC_BODY), w, W_DER);
        need(Trust.verify(sig, in, inOff, UC_BODY, w, W_DER, derLen), Proto.SW_SECURITY_STATUS_NOT_SATISFIED);
        byte[] rsp = applet.responseBuffer();
        ((ECPublicKey) authKeys.getPublic()).getW(rsp, (short) 0);
        ((ECPublicKey) decKeys.getPublic()).getW(rsp, POINT);
        need(Util.arrayCompare(in, (short) (inOff + UC_CARD), applet.cardId(), (short) 0, Proto.CARD_ID_LENGTH) == 0
                && Util.arrayCompare(in, (short) (inOff + UC_AUTH), rsp, (short) 0, (short) (2 * POINT)) == 0,
                Proto.SW_WRONG_DATA); // genuine, but not of this card's keys
        Tx.begin();
        Tx.copy(in, inOff, cert, (short) 0, Proto.UPDATE_CERT_LENGTH);
        Tx.setByte(flags, (short) 0, (byte) (flags[0] | Proto.UPDATE_FLAG_CERT));
        Tx.commit();
        Faults.point(); // stored, the answer lost: GET_UPDATE_CERTIFICATE gives it back
    }

    // ---------------------------------------------------------------- device authentication

    private short authenticate(byte[] in, short inOff, short inLen) {
        t[T_STAGE] = STAGE_NONE;
        need(inLen == Proto.UPDATE_NONCE_LENGTH, Proto.SW_WRONG_LENGTH);
        need((flags[0] & Proto.UPDATE_FLAG_CERT) != 0, Proto.SW_CONDITIONS_NOT_SATISFIED);
        alg.random().generateData(t, T_CARD_NONCE, Proto.UPDATE_CARD_NONCE_LENGTH);
        Util.arrayCopyNonAtomic(in, inOff, t, T_SERVER_NONCE, Proto.UPDATE_NONCE_LENGTH);
        byte[] rsp = applet.responseBuffer();
        Util.arrayCopyNonAtomic(t, T_CARD_NONCE, rsp, (short) 0, Proto.UPDATE_CARD_NONCE_LENGTH);
        Signature sig = alg.ecdsa();
        sig.init(authKeys.getPrivate(), Signature.MODE_SIGN);
        sig.update(AUTH_LABEL, (short) 0, (short) AUTH_LABEL.length);
        sig.update(applet.cardId(), (short) 0, Proto.CARD_ID_LENGTH);
        short len = sig.sign(t, T_CARD_NONCE, (short) (Proto.UPDATE_CARD_NONCE_LENGTH + Proto.UPDATE_NONCE_LENGTH),
                rsp, Proto.UPDATE_CARD_NONCE_LENGTH);
        t[T_STAGE] = STAGE_AUTHENTICATED;
        return (short) (Proto.UPDATE_CARD_NONCE_LENGTH + len);
    }

    // ---------------------------------------------------------------- delivery

    private short deliver(byte p1, byte p2, byte[] in, short inOff, short inLen) {
        need(p2 == 0 && p1 >= 0 && p1 <= 2, Proto.SW_INCORRECT_P1P2);
        need(t[T_STAGE] != STAGE_NONE, Proto.SW_CONDITIONS_NOT_SATISFIED);
        if (p1 == 0) {
            begin(in, inOff, inLen);
            return 0;
        }
        need(t[T_STAGE] == STAGE_RECEIVING, Proto.SW_CONDITIONS_NOT_SATISFIED);
        if (p1 == 1) {
            receive(in, inOff, inLen);
            return 0;
        }
        t[T_STAGE] = STAGE_AUTHENTICATED; // one finish per begin; the session itself goes on
        return finish(in, inOff, inLen);
    }

    private short slotOffset(short record, byte slot) {
        return (short) (slotSize * (short) (2 * record + slot));
    }

    /** The slot of record r that is not its active one: where a new package is staged. */
    private byte stagingSlot(short r) {
        return (byte) (meta[(short) (r * META + M_ACTIVE)] ^ 1);
    }

    private void begin(byte[] in, short inOff, short inLen) {
        t[T_STAGE] = STAGE_AUTHENTICATED; // a new begin drops a delivery in progress
        need(inLen == (short) (Proto.CERT_LENGTH + 2 + RS + HDR), Proto.SW_WRONG_LENGTH);
        short h = (short) (inOff + Proto.CERT_LENGTH + 2 + RS);
        need(in[h] == Proto.UPDATE_FORMAT, Proto.SW_WRONG_DATA);
        need(Util.arrayCompare(in, (short) (h + H_CARD), applet.cardId(), (short) 0, Proto.CARD_ID_LENGTH) == 0,
                Proto.SW_WRONG_DATA); // meant for another card
        short record = (short) (in[(short) (h + H_RECORD)] & 0xFF);
        byte op = in[(short) (h + H_OP)];
        byte mode = in[(short) (h + H_MODE)];
        short length = Util.getShort(in, (short) (h + H_LENGTH));
        need(record < records, Proto.SW_NOT_ENOUGH_MEMORY);
        need(op >= Proto.UPDATE_OP_ADD && op <= Proto.UPDATE_OP_DELETE
                && (mode == Proto.UPDATE_MODE_APPLY || mode == Proto.UPDATE_MODE_STORE)
                && length >= 0 && (op != Proto.UPDATE_OP_DELETE || length == 0)
                && Util.getShort(in, (short) (h + H_CT_LENGTH)) == padded(length)
                && in[(short) (h + H_POINT)] == 0x04
                && !zeroVersion(in, (short) (h + H_VERSION)), Proto.SW_WRONG_DATA);
        need(length <= recordSize && (mode == Proto.UPDATE_MODE_APPLY || length <= Proto.UPDATE_MAX_STORED),
                Proto.SW_NOT_ENOUGH_MEMORY);
        need(compareVersion(in, (short) (h + H_VERSION), record) >= 0, Proto.SW_CONDITIONS_NOT_SATISFIED); // rollback
        trust.checkServiceCertificate(in, inOff, serviceKey);
        Util.arrayCopyNonAtomic(in, (short) (inOff + Proto.CERT_LENGTH), t, T_DATE, (short) (2 + RS));
        Util.arrayCopyNonAtomic(in, h, store, slotOffset(record, stagingSlot(record)), HDR);
        n[0] = 0;
        n[1] = (short) (ENVELOPE + padded(length));
        t[T_RECORD] = (byte) record;
        t[T_STAGE] = STAGE_RECEIVING;
    }

    private void receive(byte[] in, short inOff, short inLen) {
        short record = t[T_RECORD];
        if (inLen > (short) (n[1] - n[0])) {
            t[T_STAGE] = STAGE_AUTHENTICATED;
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        Util.arrayCopyNonAtomic(in, inOff, store, (short) (slotOffset(record, stagingSlot(record)) + HDR + n[0]), inLen);
        n[0] += inLen;
        Faults.point(); // a chunk staged: the active slot is untouched, the session ends with the power
    }

    private short finish(byte[] in, short inOff, short inLen) {
        need(n[0] == n[1] && inLen == RS, Proto.SW_WRONG_LENGTH);
        short record = t[T_RECORD];
        byte slot = stagingSlot(record);
        short s = slotOffset(record, slot);
        short body = (short) (HDR + n[1]);
        // the issuer's signature over the package: nobody but the issuer's offline key makes one
        Signature sig = alg.ecdsa();
        trust.initIssuerVerify(sig);
        sig.update(PACKAGE_LABEL, (short) 0, (short) PACKAGE_LABEL.length);
        short derLen = Trust.der(in, inOff, w, W_DER);
        need(Trust.verify(sig, store, s, body, w, W_DER, derLen), Proto.SW_SECURITY_STATUS_NOT_SATISFIED);
        MessageDigest sha = alg.sha256();
        sha.reset();
        sha.update(store, s, body);
        sha.doFinal(in, inOff, RS, w, W_HASH);
        // the service's signature binds this package to this card and this session's two nonces
        sig.init(serviceKey, Signature.MODE_VERIFY);
        sig.update(DELIVERY_LABEL, (short) 0, (short) DELIVERY_LABEL.length);
        sig.update(applet.cardId(), (short) 0, Proto.CARD_ID_LENGTH);
        sig.update(t, T_CARD_NONCE, (short) (T_DSIG - T_CARD_NONCE));
        derLen = Trust.der(t, T_DSIG, w, W_DER);
        need(Trust.verify(sig, w, W_HASH, (short) 32, w, W_DER, derLen), Proto.SW_SECURITY_STATUS_NOT_SATISFIED);
        short m = (short) (record * META);
        short cmp = compareVersion(store, (short) (s + H_VERSION), record);
        if (cmp == 0 && Util.arrayCompare(w, W_HASH, meta, (short) (m + M_HASH), (short) 32) == 0) {
            return ack(record, Proto.UPDATE_ACK_ALREADY); // delivered before, the ack was lost: nothing changes
        }
        need(cmp > 0, Proto.SW_CONDITIONS_NOT_SATISFIED); // not above the record's version: a replay
        need(!Trust.later(t, T_DATE, store, (short) (s + H_EXPIRY)) && !laterThan(trust.date(), store,
                (short) (s + H_EXPIRY)), Proto.SW_CONDITIONS_NOT_SATISFIED); // expired
        byte op = store[(short) (s + H_OP)];
        byte state = meta[(short) (m + M_STATE)];
        need(op == Proto.UPDATE_OP_ADD ? state == Proto.UPDATE_STATE_EMPTY : state != Proto.UPDATE_STATE_EMPTY,
                Proto.SW_CONDITIONS_NOT_SATISFIED);
        byte mode = store[(short) (s + H_MODE)];
        short length = Util.getShort(store, (short) (s + H_LENGTH));
        if (mode == Proto.UPDATE_MODE_APPLY) {
            open(store, s, body, length); // decrypted in place: the staging slot holds the plaintext now
        } else {
            byte[] rsp = applet.responseBuffer(); // stored encrypted: opened once in RAM to prove it opens
            Util.arrayCopyNonAtomic(store, s, rsp, (short) 0, body);
            open(rsp, (short) 0, body, length);
            Util.arrayFillNonAtomic(rsp, (short) 0, body, (byte) 0);
        }
        byte newState = op == Proto.UPDATE_OP_DELETE ? Proto.UPDATE_STATE_EMPTY
                : (mode == Proto.UPDATE_MODE_APPLY ? Proto.UPDATE_STATE_APPLIED : Proto.UPDATE_STATE_STORED);
        Faults.point(); // staged and checked, not switched: the record is the old one
        Tx.begin();
        Tx.setByte(meta, (short) (m + M_ACTIVE), slot);
        Tx.setByte(meta, (short) (m + M_STATE), newState);
        Tx.copy(store, (short) (s + H_VERSION), meta, (short) (m + M_VERSION), (short) 4);
        Tx.setShort(meta, (short) (m + M_LENGTH), length);
        Tx.copy(w, W_HASH, meta, (short) (m + M_HASH), (short) 32);
        Tx.commit();
        Faults.point(); // switched, the acknowledgement lost: the same package again is acknowledged again
        return ack(record, Proto.UPDATE_ACK_APPLIED);
    }

    /**
     * Opens the package at buf[off..off+body) in place with the decryption key (ECDH with its ephemeral
     * point, the key derived with the card id as context): 6A80 when its tag does not check, its point is
     * not on P-256 or its plaintext is not the announced length.
     */
    private void open(byte[] buf, short off, short body, short length) {
        need(curve.onCurve(buf, (short) (off + H_POINT)), Proto.SW_WRONG_DATA);
        KeyAgreement ka = alg.ecdh();
        ka.init(decKeys.getPrivate());
        short len = 0;
        try {
            len = ka.generateSecret(buf, (short) (off + H_POINT), POINT, w, W_Z);
        } catch (RuntimeException e) {
            Faults.passPowerLoss(e);
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        if (len < SCALAR) {
            Util.arrayCopyNonAtomic(w, W_Z, w, (short) (W_Z + SCALAR - len), len);
            Util.arrayFillNonAtomic(w, W_Z, (short) (SCALAR - len), (byte) 0);
        }
        short pt;
        try {
            pt = aead.open(w, W_Z, applet.cardId(), (short) 0, Proto.CARD_ID_LENGTH, buf, off, HDR, body);
        } finally {
            Util.arrayFillNonAtomic(w, W_Z, SCALAR, (byte) 0);
        }
        need(Aead.unpad(buf, (short) (off + HDR + Aead.IV_LENGTH), pt) == length, Proto.SW_WRONG_DATA);
    }

    /** The acknowledgement of the record's current package, signed with the device-authentication key. */
    private short ack(short record, byte status) {
        short m = (short) (record * META);
        byte[] rsp = applet.responseBuffer();
        rsp[0] = status;
        rsp[1] = (byte) record;
        Util.arrayCopyNonAtomic(meta, (short) (m + M_VERSION), rsp, (short) 2, (short) 4);
        Util.arrayCopyNonAtomic(meta, (short) (m + M_HASH), rsp, (short) 6, (short) 32);
        Signature sig = alg.ecdsa();
        sig.init(authKeys.getPrivate(), Signature.MODE_SIGN);
        sig.update(ACK_LABEL, (short) 0, (short) ACK_LABEL.length);
        sig.update(applet.cardId(), (short) 0, Proto.CARD_ID_LENGTH);
        sig.update(t, T_CARD_NONCE, Proto.UPDATE_CARD_NONCE_LENGTH);
        return (short) (38 + sig.sign(rsp, (short) 0, (short) 38, rsp, (short) 38));
    }

    private static boolean zeroVersion(byte[] b, short off) {
        return Util.getShort(b, off) == 0 && Util.getShort(b, (short) (off + 2)) == 0;
    }

    /** Unsigned comparison of the 4-byte version at b[off] with record r's: -1, 0, 1. */
    private short compareVersion(byte[] b, short off, short r) {
        short m = (short) (r * META + M_VERSION);
        for (short i = 0; i < 4; i++) {
            short x = (short) (b[(short) (off + i)] & 0xFF);
            short y = (short) (meta[(short) (m + i)] & 0xFF);
            if (x != y) {
                return x > y ? (short) 1 : (short) -1;
            }
        }
        return 0;
    }

    /** Whether the day number day is after the one at b[off] (both unsigned). */
    private static boolean laterThan(short day, byte[] b, short off) {
        return (short) (day ^ (short) 0x8000) > (short) (Util.getShort(b, off) ^ (short) 0x8000);
    }

    // ---------------------------------------------------------------- use

    private short readRecord(byte p1, byte p2) {
        short record = (short) (p1 & 0xFF);
        need(record < records && p2 >= 0 && p2 < (short) (Proto.UPDATE_MAX_RECORD_SIZE / Proto.UPDATE_READ_BLOCK),
                Proto.SW_INCORRECT_P1P2);
        short m = (short) (record * META);
        need(meta[(short) (m + M_STATE)] == Proto.UPDATE_STATE_APPLIED, Proto.SW_DATA_NOT_FOUND);
        short length = Util.getShort(meta, (short) (m + M_LENGTH));
        short from = (short) (p2 * Proto.UPDATE_READ_BLOCK);
        need(from == 0 || from < length, Proto.SW_INCORRECT_P1P2);
        short take = (short) (length - from);
        if (take > Proto.UPDATE_READ_BLOCK) {
            take = Proto.UPDATE_READ_BLOCK;
        }
        short s = (short) (slotOffset(record, meta[(short) (m + M_ACTIVE)]) + HDR + Aead.IV_LENGTH + from);
        return Util.arrayCopyNonAtomic(store, s, applet.responseBuffer(), (short) 0, take);
    }

    private short useData(byte p1, byte p2) {
        short record = (short) (p1 & 0xFF);
        need(record < records && p2 == 0, Proto.SW_INCORRECT_P1P2);
        need(trust.secured(), Proto.SW_SECURITY_STATUS_NOT_SATISFIED); // only into an encrypted response
        short m = (short) (record * META);
        need(meta[(short) (m + M_STATE)] == Proto.UPDATE_STATE_STORED, Proto.SW_DATA_NOT_FOUND);
        short length = Util.getShort(meta, (short) (m + M_LENGTH));
        short body = (short) (HDR + ENVELOPE + padded(length));
        byte[] rsp = applet.responseBuffer();
        Util.arrayCopyNonAtomic(store, slotOffset(record, meta[(short) (m + M_ACTIVE)]), rsp, (short) 0, body);
        open(rsp, (short) 0, body, length);
        Util.arrayCopyNonAtomic(rsp, (short) (HDR + Aead.IV_LENGTH), rsp, (short) 0, length);
        Util.arrayFillNonAtomic(rsp, length, (short) (body - length), (byte) 0);
        return length;
    }

    private short status() {
        byte[] rsp = applet.responseBuffer();
        short off = 0;
        for (short r = 0; r < records; r++) {
            short m = (short) (r * META);
            rsp[off++] = meta[(short) (m + M_STATE)];
            off = Util.arrayCopyNonAtomic(meta, (short) (m + M_VERSION), rsp, off, (short) (4 + 2 + 32));
        }
        return off;
    }

    /** genKeyPair until the private scalar has 32 bytes (jCardSim mishandles shorter ones in ECDH). */
    private void genFullLength(KeyPair keys) {
        do {
            keys.genKeyPair();
        } while (((ECPrivateKey) keys.getPrivate()).getS(w, W_Z) < SCALAR);
        Util.arrayFillNonAtomic(w, W_Z, SCALAR, (byte) 0);
    }

    // ---------------------------------------------------------------- Capability

    /** CLEAR: every record empty and at version 0 (one small transaction per record); keys and certificate stay. */
    public void clear() {
        t[T_STAGE] = STAGE_NONE;
        for (short r = 0; r < records; r++) {
            short m = (short) (r * META);
            if (meta[(short) (m + M_STATE)] != Proto.UPDATE_STATE_EMPTY || !zeroVersion(meta, (short) (m + M_VERSION))) {
                Tx.begin();
                Tx.fill(meta, (short) (m + M_STATE), (short) (META - M_STATE), (byte) 0);
                Tx.commit();
            }
        }
    }

    public boolean busy() {
        return false;
    }

    public short putInfo(byte[] out, short off) {
        off = Tlv.putHeader(out, off, Proto.TAG_INFO_UPDATE, (short) 6);
        out[off++] = (byte) (flags[0] & Proto.UPDATE_FLAG_CERT);
        out[off++] = (byte) records;
        off = Util.setShort(out, off, recordSize);
        return Util.setShort(out, off, Proto.UPDATE_MAX_STORED);
    }
}
