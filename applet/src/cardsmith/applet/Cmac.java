package cardsmith.applet;

import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.KeyBuilder;
import javacardx.crypto.Cipher;

/**
 * AES-CMAC (NIST SP 800-38B) over the shared AES-ECB cipher, streaming: init, update any number of times,
 * doFinal. Checked against the SP 800-38B vectors by tests/backup/test_backup_crypto.py (through the host
 * mirror, which the card's MACs are compared with).
 */
final class Cmac {
    static final short BLOCK = 16;
    private final Algorithms algorithms;
    /** K1 (0..15), K2 (16..31), X (32..47), buffered block (48..63). */
    private final byte[] w;
    private final short[] n;
    private static final short K1 = 0;
    private static final short K2 = 16;
    private static final short X = 32;
    private static final short BUF = 48;
    /** Holds a raw 256-bit key for the one-shot mac(). */
    private final AESKey rawKey;

    Cmac(Algorithms algorithms) {
        this.algorithms = algorithms;
        rawKey = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES_TRANSIENT_DESELECT, KeyBuilder.LENGTH_AES_256,
                false);
        w = JCSystem.makeTransientByteArray((short) 64, JCSystem.CLEAR_ON_DESELECT);
        n = JCSystem.makeTransientShortArray((short) 1, JCSystem.CLEAR_ON_DESELECT);
    }

    /** One shot: out[outOff..+16) = CMAC(k[kOff..kOff+32), m[mOff..mOff+mLen)), an AES-256 key given raw. */
    void mac(byte[] k, short kOff, byte[] m, short mOff, short mLen, byte[] out, short outOff) {
        rawKey.setKey(k, kOff);
        init(rawKey);
        update(m, mOff, mLen);
        doFinal(out, outOff);
        rawKey.clearKey();
    }

    void init(AESKey key) {
        // the shared cipher is asked for on every use, never kept in a field: a field write per MAC would
        // be a persistent write per command on a card
        Cipher ecb = algorithms.aesEcb();
        ecb.init(key, Cipher.MODE_ENCRYPT);
        Util.arrayFillNonAtomic(w, (short) 0, (short) 64, (byte) 0);
        ecb.doFinal(w, K1, BLOCK, w, K1); // L = E(0)
        dbl(w, K1);
        Util.arrayCopyNonAtomic(w, K1, w, K2, BLOCK);
        dbl(w, K2);
        n[0] = 0;
    }

    private static void dbl(byte[] b, short off) {
        byte carry = 0;
        for (short i = (short) (off + BLOCK - 1); i >= off; i--) {
            byte v = b[i];
            b[i] = (byte) ((v << 1) | carry);
            carry = (byte) ((v >> 7) & 1);
        }
        if (carry != 0) {
            b[(short) (off + BLOCK - 1)] ^= (byte) 0x87;
        }
    }

    private void absorb() {
        for (short i = 0; i < BLOCK; i++) {
            w[(short) (X + i)] ^= w[(short) (BUF + i)];
        }
        algorithms.aesEcb().doFinal(w, X, BLOCK, w, X);
    }

    void update(byte[] in, short off, short len) {
        while (len > 0) {
            if (n[0] == BLOCK) {
                absorb();
                n[0] = 0;
            }
            short take = (short) (BLOCK - n[0]);
            if (take > len) {
                take = len;
            }
            Util.arrayCopyNonAtomic(in, off, w, (short) (BUF + n[0]), take);
            n[0] += take;
            off += take;
            len -= take;
        }
    }

    void updateByte(byte b) {
        if (n[0] == BLOCK) {
            absorb();
            n[0] = 0;
        }
        w[(short) (BUF + n[0])] = b;
        n[0]++;
    }

    /** Writes the 16-byte tag to out[off..]; returns off + 16. */
    short doFinal(byte[] out, short off) {
        short k;
        if (n[0] == BLOCK) {
            k = K1;
        } else {
            k = K2;
            w[(short) (BUF + n[0])] = (byte) 0x80;
            for (short i = (short) (n[0] + 1); i < BLOCK; i++) {
                w[(short) (BUF + i)] = 0; // a loop, not arrayFillNonAtomic: 15 buffered bytes leave none to fill
            }
        }
        for (short i = 0; i < BLOCK; i++) {
            w[(short) (BUF + i)] ^= w[(short) (k + i)];
        }
        absorb();
        n[0] = 0;
        return Util.arrayCopyNonAtomic(w, X, out, off, BLOCK);
    }
}
