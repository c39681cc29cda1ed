package cardsmith.applet;

import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.KeyBuilder;
import javacardx.crypto.Cipher;

/**
 * Secure messaging of an authenticated session (docs/security.md, "Secure messaging"), called by the
 * transport layer of CardsmithApplet.process: {@link #unwrap} before the dispatcher, {@link #wrap} after
 * it, so handlers and the access table never see it.
 *
 * <p>A secured command's data is counter (2, strictly growing) || AES-256-CBC(pad(plaintext)) (nothing
 * when the plaintext is empty) || MAC (8): the first 8 bytes of CMAC under S-MAC over CLA' INS P1 P2 ||
 * counter || ciphertext, CLA' being the command's class with SM_CLA_BIT (84, or 04 for ISO commands).
 * The IV is AES(S-ENC, 00..00 || counter). A successful response is AES-CBC(pad(response)) || MAC (8) under
 * S-RMAC over counter || ciphertext || 90 00, IV AES(S-ENC, 80 00..00 || counter). Error status words go in
 * clear, with no data. A bad MAC, a counter that does not grow or bad padding ends the session (Trust: 6988).
 * Keys and the counter are transient (CLEAR_ON_DESELECT): the session dies with deselect and reset.
 */
final class SecureMessaging {
    private static final short OVERHEAD = (short) (Proto.SM_COUNTER_LENGTH + Proto.SM_MAC_LENGTH);
    /** The most a secured command or response grows: counter, MAC and a whole block of padding. */
    static final short MAX_OVERHEAD = (short) (OVERHEAD + Cmac.BLOCK);

    /** Transient: [T_OPEN] 1 while a session is open, [T_COUNTER..+2) the last counter accepted, the keys. */
    private final byte[] t;
    private static final short T_OPEN = 0;
    private static final short T_COUNTER = 1;
    static final short KEY_ENC = 3;
    static final short KEY_MAC = 35;
    static final short KEY_RMAC = 67;
    private static final short T_SIZE = 99;
    /** Transient scratch: the IV block (16) and the computed MAC (16). */
    private final byte[] w;
    private static final short W_IV = 0;
    private static final short W_TAG = 16;
    private final Algorithms alg;
    private final Cmac cmac;
    private final AESKey key;

    SecureMessaging(Algorithms alg, Cmac cmac) {
        this.alg = alg;
        this.cmac = cmac;
        t = JCSystem.makeTransientByteArray(T_SIZE, JCSystem.CLEAR_ON_DESELECT);
        w = JCSystem.makeTransientByteArray((short) 32, JCSystem.CLEAR_ON_DESELECT);
        key = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES_TRANSIENT_DESELECT, KeyBuilder.LENGTH_AES_256, false);
    }

    boolean open() {
        return t[T_OPEN] == 1;
    }

    /** Where the session's keys go (S-ENC at KEY_ENC, S-MAC at KEY_MAC, S-RMAC at KEY_RMAC; 32 bytes each). */
    byte[] keys() {
        return t;
    }

    /** Opens the session with the keys written into keys(); counter 0. */
    void start() {
        Util.setShort(t, T_COUNTER, (short) 0);
        t[T_OPEN] = 1;
    }

    /** Ends the session: keys wiped. */
    void end() {
        Util.arrayFillNonAtomic(t, (short) 0, T_SIZE, (byte) 0);
        Util.arrayFillNonAtomic(w, (short) 0, (short) w.length, (byte) 0);
        key.clearKey();
    }

    /**
     * Checks and decrypts the secured command in buf[0..len) in place; returns the plaintext length (at
     * buf[0..)), or -1 when the MAC, the counter or the padding is wrong (the caller ends the session).
     * cla is the command's class with SM_CLA_BIT, without chaining or channel bits.
     */
    short unwrap(byte cla, byte ins, byte p1, byte p2, byte[] buf, short len) {
        short ctLen = (short) (len - OVERHEAD);
        if (ctLen < 0 || (short) (ctLen % Cmac.BLOCK) != 0) {
            return -1;
        }
        short counter = Util.getShort(buf, (short) 0);
        short macOff = (short) (len - Proto.SM_MAC_LENGTH);
        key.setKey(t, KEY_MAC);
        cmac.init(key);
        cmac.updateByte(cla);
        cmac.updateByte(ins);
        cmac.updateByte(p1);
        cmac.updateByte(p2);
        cmac.update(buf, (short) 0, macOff);
        cmac.doFinal(w, W_TAG);
        if (!Bytes.equalsConstantTime(w, W_TAG, buf, macOff, Proto.SM_MAC_LENGTH)
                || counter <= Util.getShort(t, T_COUNTER)) { // signed: 1..7FFF, so a wrapped counter fails too
            return -1;
        }
        Util.setShort(t, T_COUNTER, counter);
        if (ctLen == 0) {
            return 0;
        }
        crypt(Cipher.MODE_DECRYPT, (byte) 0x00, buf, Proto.SM_COUNTER_LENGTH, ctLen);
        Util.arrayCopyNonAtomic(buf, Proto.SM_COUNTER_LENGTH, buf, (short) 0, ctLen);
        short i = (short) (ctLen - 1);
        while (i > 0 && buf[i] == 0 && (short) (ctLen - i) < Cmac.BLOCK) {
            i--;
        }
        return buf[i] == (byte) 0x80 ? i : -1;
    }

    /**
     * Encrypts and MACs the successful response in buf[0..len) in place (buf has MAX_OVERHEAD bytes of room
     * beyond the protocol's response buffer); returns the secured length.
     */
    short wrap(byte[] buf, short len) {
        short ctLen = 0;
        if (len > 0) {
            ctLen = Aead.pad(buf, (short) 0, len);
            crypt(Cipher.MODE_ENCRYPT, (byte) 0x80, buf, (short) 0, ctLen);
        }
        key.setKey(t, KEY_RMAC);
        cmac.init(key);
        cmac.update(t, T_COUNTER, Proto.SM_COUNTER_LENGTH);
        cmac.update(buf, (short) 0, ctLen);
        cmac.updateByte((byte) 0x90);
        cmac.updateByte((byte) 0x00);
        cmac.doFinal(w, W_TAG);
        return Util.arrayCopyNonAtomic(w, W_TAG, buf, ctLen, Proto.SM_MAC_LENGTH);
    }

    /** AES-CBC in place over buf[off..off+len) under S-ENC, IV = AES(S-ENC, direction || 0.. || counter). */
    private void crypt(byte mode, byte direction, byte[] buf, short off, short len) {
        key.setKey(t, KEY_ENC);
        Util.arrayFillNonAtomic(w, W_IV, Cmac.BLOCK, (byte) 0);
        w[W_IV] = direction;
        Util.arrayCopyNonAtomic(t, T_COUNTER, w, (short) (W_IV + Cmac.BLOCK - 2), (short) 2);
        Cipher ecb = alg.aesEcb();
        ecb.init(key, Cipher.MODE_ENCRYPT);
        ecb.doFinal(w, W_IV, Cmac.BLOCK, w, W_IV);
        Cipher cbc = alg.aesCbc();
        cbc.init(key, mode, w, W_IV, Cmac.BLOCK);
        cbc.doFinal(buf, off, len, buf, off);
    }
}
