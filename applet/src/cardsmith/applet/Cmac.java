package cardsmith.applet;

import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.KeyBuilder;
import javacardx.crypto.Cipher;

/**
 * AES-CMAC (NIST SP 800-38B) with a 256-bit key, computed over the shared AES-ECB instance, since Java Card
 * 3.0.4 has no CMAC of its own. Checked against the SP 800-38B AES-256 examples (CmacSelfTest in the test
 * build, run by tests/test_duplication_crypto.py).
 */
final class Cmac {
    static final short BLOCK = 16;
    private final Algorithms algorithms;
    private final AESKey key;
    /** [0..16) chaining value X, [16..32) K1/K2 subkey, [32..48) block scratch. */
    private final byte[] s;

    Cmac(Algorithms algorithms) {
        this.algorithms = algorithms;
        key = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES_TRANSIENT_DESELECT, KeyBuilder.LENGTH_AES_256, false);
        s = JCSystem.makeTransientByteArray((short) 48, JCSystem.CLEAR_ON_DESELECT);
    }

    /** Left shift by one bit of s[off..off+16), then XOR 0x87 into the last byte if the top bit was set. */
    private void dbl(short off) {
        byte carry = 0;
        for (short i = (short) (off + 15); i >= off; i--) {
            byte b = s[i];
            s[i] = (byte) ((b << 1) | carry);
            carry = (byte) ((b >> 7) & 1);
        }
        if (carry != 0) {
            s[(short) (off + 15)] ^= (byte) 0x87;
        }
    }

    /**
     * out[outOff..+16) = CMAC(k[kOff..kOff+32), m[mOff..mOff+mLen)). out may overlap nothing of m's
     * unread part; writing the tag right after the message (the usual layout) is fine.
     */
    void mac(byte[] k, short kOff, byte[] m, short mOff, short mLen, byte[] out, short outOff) {
        key.setKey(k, kOff);
        Cipher ecb = algorithms.aesEcb();
        ecb.init(key, Cipher.MODE_ENCRYPT);
        // subkey L = E(K, 0); K1 = dbl(L); K2 = dbl(K1)
        Util.arrayFillNonAtomic(s, (short) 0, (short) 32, (byte) 0);
        ecb.doFinal(s, (short) 0, BLOCK, s, (short) 16);
        dbl((short) 16);
        boolean complete = mLen > 0 && (short) (mLen % BLOCK) == 0;
        if (!complete) {
            dbl((short) 16);
        }
        short lastOff = (short) (mLen == 0 ? 0 : ((short) ((mLen - 1) / BLOCK)) * BLOCK);
        // X = 0 (s[0..16) already zero); process every block before the last
        for (short b = 0; b < lastOff; b += BLOCK) {
            for (short i = 0; i < BLOCK; i++) {
                s[i] ^= m[(short) (mOff + b + i)];
            }
            ecb.doFinal(s, (short) 0, BLOCK, s, (short) 0);
        }
        // last block: complete -> M ^ K1; partial -> pad(M) ^ K2
        short rest = (short) (mLen - lastOff);
        Util.arrayFillNonAtomic(s, (short) 32, BLOCK, (byte) 0);
        if (rest > 0) {
            Util.arrayCopyNonAtomic(m, (short) (mOff + lastOff), s, (short) 32, rest);
        }
        if (!complete) {
            s[(short) (32 + rest)] = (byte) 0x80;
        }
        for (short i = 0; i < BLOCK; i++) {
            s[i] ^= (byte) (s[(short) (32 + i)] ^ s[(short) (16 + i)]);
        }
        ecb.doFinal(s, (short) 0, BLOCK, out, outOff);
        Util.arrayFillNonAtomic(s, (short) 0, (short) 48, (byte) 0);
        key.clearKey();
    }
}
