package cardsmith.applet;

import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacardx.crypto.Cipher;

/**
 * AES-CMAC (NIST SP 800-38B) over the card's AES-ECB, for cards without a platform CMAC. Checked against
 * the SP 800-38B / RFC 4493 vectors by tests/test_self_issuance.py (through a bundle MAC) and the host
 * mirror in cardsmith.crypto.
 */
final class Cmac {
    static final short BLOCK = 16;
    private final Algorithms algorithms;
    /** k (16) | x (16) | last block (16), transient. */
    private final byte[] s;
    private static final short K = 0;
    private static final short X = 16;
    private static final short LAST = 32;

    Cmac(Algorithms algorithms) {
        this.algorithms = algorithms;
        s = JCSystem.makeTransientByteArray((short) 48, JCSystem.CLEAR_ON_DESELECT);
    }

    /** Writes the 16-byte CMAC of in[off..off+len) under key to out[outOff..]. */
    void sign(AESKey key, byte[] in, short off, short len, byte[] out, short outOff) {
        Cipher ecb = algorithms.aesEcb();
        ecb.init(key, Cipher.MODE_ENCRYPT);
        // L = E(0); K1 = dbl(L); K2 = dbl(K1)
        Util.arrayFillNonAtomic(s, (short) 0, (short) 48, (byte) 0);
        ecb.doFinal(s, K, BLOCK, s, K);
        dbl();
        short n = (short) ((short) (len + BLOCK - 1) / BLOCK);
        boolean complete = len > 0 && (short) (len % BLOCK) == 0;
        if (n == 0) {
            n = 1;
        }
        if (!complete) {
            dbl();
        }
        // X = 0; for each block but the last: X = E(X ^ M_i)
        for (short i = 0; i < (short) (n - 1); i++) {
            xorInto(in, (short) (off + i * BLOCK), X, BLOCK);
            ecb.doFinal(s, X, BLOCK, s, X);
        }
        short lastOff = (short) (off + (short) (n - 1) * BLOCK);
        short lastLen = (short) (len - (short) (n - 1) * BLOCK);
        Util.arrayFillNonAtomic(s, LAST, BLOCK, (byte) 0);
        Util.arrayCopyNonAtomic(in, lastOff, s, LAST, lastLen);
        if (!complete) {
            s[(short) (LAST + lastLen)] = (byte) 0x80;
        }
        for (short i = 0; i < BLOCK; i++) {
            s[(short) (X + i)] ^= (byte) (s[(short) (LAST + i)] ^ s[(short) (K + i)]);
        }
        ecb.doFinal(s, X, BLOCK, out, outOff);
        Util.arrayFillNonAtomic(s, (short) 0, (short) 48, (byte) 0);
    }

    private void xorInto(byte[] in, short off, short at, short len) {
        for (short i = 0; i < len; i++) {
            s[(short) (at + i)] ^= in[(short) (off + i)];
        }
    }

    /** s[K..K+16) = s[K..K+16) doubled in GF(2^128). */
    private void dbl() {
        byte msb = (byte) (s[K] & 0x80);
        for (short i = 0; i < (short) (BLOCK - 1); i++) {
            s[(short) (K + i)] = (byte) ((s[(short) (K + i)] << 1) | ((s[(short) (K + i + 1)] >> 7) & 1));
        }
        s[(short) (K + BLOCK - 1)] = (byte) (s[(short) (K + BLOCK - 1)] << 1);
        if (msb != 0) {
            s[(short) (K + BLOCK - 1)] ^= (byte) 0x87;
        }
    }
}
