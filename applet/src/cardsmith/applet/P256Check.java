package cardsmith.applet;

import javacard.framework.JCSystem;
import javacard.framework.Util;

/**
 * Checks that a received P-256 point is on the curve (y^2 = x^3 - 3x + b mod p, both coordinates below
 * p) before any ECDH uses it, rather than trusting the card's KeyAgreement to refuse it (the API does not
 * promise it; an off-curve point can leak bits of the private key to an invalid-curve attack).
 *
 * Arithmetic in 16 bits only: 32-byte big-endian numbers, a schoolbook product over bytes into short
 * column sums, and the NIST reduction for p = 2^256 - 2^224 + 2^192 + 2^96 - 1 (FIPS 186-4, D.2.3) as
 * signed byte-column sums of the product's 32-bit words. Allocate at install only.
 */
final class P256Check {
    static final short N = 32;
    /** Work: the 64-byte product, x^3, the right-hand side, y^2. */
    private final byte[] w;
    private static final short T = 0;
    private static final short X3 = 64;
    private static final short RHS = 96;
    private static final short LHS = 128;
    private static final short W_SIZE = 160;
    private final short[] acc;

    /**
     * The reduction's nine terms, most significant word first (FIPS 186-4 D.2.3: s1, s2, s3, s4, s5, d1,
     * d2, d3, d4), each a word index of the product (0 the least significant) or -1 for a zero word.
     */
    private static final byte[] TERMS = {
        7, 6, 5, 4, 3, 2, 1, 0,
        15, 14, 13, 12, 11, -1, -1, -1,
        -1, 15, 14, 13, 12, -1, -1, -1,
        15, 14, -1, -1, -1, 10, 9, 8,
        8, 13, 15, 14, 13, 11, 10, 9,
        10, 8, -1, -1, -1, 13, 12, 11,
        11, 9, -1, -1, 15, 14, 13, 12,
        12, -1, 10, 9, 8, 15, 14, 13,
        13, -1, 11, 10, 9, -1, 15, 14};
    private static final byte[] COEFF = {1, 2, 2, 1, 1, -1, -1, -1, -1};

    P256Check() {
        w = JCSystem.makeTransientByteArray(W_SIZE, JCSystem.CLEAR_ON_DESELECT);
        acc = JCSystem.makeTransientShortArray((short) 64, JCSystem.CLEAR_ON_DESELECT);
    }

    /** Whether pt[off..off+65) is 04 || X || Y with X, Y < p on P-256. */
    boolean onCurve(byte[] pt, short off) {
        if (pt[off] != 0x04) {
            return false;
        }
        short x = (short) (off + 1);
        short y = (short) (off + 1 + N);
        if (compare(pt, x, P256.P, (short) 0) >= 0 || compare(pt, y, P256.P, (short) 0) >= 0) {
            return false;
        }
        mulMod(pt, x, pt, x, w, X3);
        mulMod(w, X3, pt, x, w, X3); // x^3
        Util.arrayCopyNonAtomic(w, X3, w, RHS, N);
        for (short i = 0; i < 3; i++) {
            subMod(w, RHS, pt, x); // x^3 - 3x
        }
        addMod(w, RHS, P256.B, (short) 0); // + b
        mulMod(pt, y, pt, y, w, LHS); // y^2
        boolean on = Util.arrayCompare(w, LHS, w, RHS, N) == 0;
        Util.arrayFillNonAtomic(w, (short) 0, W_SIZE, (byte) 0);
        return on;
    }

    /** out[outOff..+32) = a * b mod p (out may be a or b). */
    void mulMod(byte[] a, short aOff, byte[] b, short bOff, byte[] out, short outOff) {
        Util.arrayFillNonAtomic(w, T, (short) 64, (byte) 0);
        for (short k = 0; k < 64; k++) {
            acc[k] = 0;
        }
        for (short i = 0; i < N; i++) {
            short ai = (short) (a[(short) (aOff + i)] & 0xFF);
            if (ai == 0) {
                continue;
            }
            for (short j = 0; j < N; j++) {
                short prod = (short) (ai * (short) (b[(short) (bOff + j)] & 0xFF)); // < 2^16: the bits are right
                short col = (short) (i + j);
                acc[(short) (col + 1)] += (short) (prod & 0xFF);
                acc[col] += (short) ((short) (prod >> 8) & 0xFF);
            }
        }
        short carry = 0;
        for (short k = 63; k >= 0; k--) {
            short v = (short) (acc[k] + carry);
            w[(short) (T + k)] = (byte) v;
            carry = (short) (v >> 8);
        }
        reduce(out, outOff);
    }

    /** out = the 64-byte product at w[T..) mod p. */
    private void reduce(byte[] out, short outOff) {
        for (short k = 0; k < N; k++) {
            acc[k] = 0;
        }
        for (short t = 0; t < 9; t++) {
            byte c = COEFF[t];
            for (short m = 0; m < 8; m++) {
                byte word = TERMS[(short) (t * 8 + m)];
                if (word < 0) {
                    continue;
                }
                short src = (short) (T + 64 - 4 * (word + 1)); // big-endian bytes of word A_word
                for (short b = 0; b < 4; b++) {
                    short col = (short) (m * 4 + b);
                    acc[col] += (short) (c * (short) (w[(short) (src + b)] & 0xFF));
                }
            }
        }
        short carry = 0;
        for (short k = (short) (N - 1); k >= 0; k--) {
            short v = (short) (acc[k] + carry);
            out[(short) (outOff + k)] = (byte) v;
            carry = (short) (v >> 8); // arithmetic: the floor, also for negative sums
        }
        // value = carry * 2^256 + out, with carry small: bring it into [0, p)
        while (carry < 0) {
            carry += add(out, outOff, P256.P, (short) 0);
        }
        while (carry > 0 || compare(out, outOff, P256.P, (short) 0) >= 0) {
            carry -= sub(out, outOff, P256.P, (short) 0);
        }
    }

    /** a = a + b mod p (both below p). */
    void addMod(byte[] a, short aOff, byte[] b, short bOff) {
        short carry = add(a, aOff, b, bOff);
        if (carry != 0 || compare(a, aOff, P256.P, (short) 0) >= 0) {
            sub(a, aOff, P256.P, (short) 0);
        }
    }

    /** a = a - b mod p (both below p). */
    void subMod(byte[] a, short aOff, byte[] b, short bOff) {
        if (sub(a, aOff, b, bOff) != 0) {
            add(a, aOff, P256.P, (short) 0);
        }
    }

    /** a += b over 32 bytes; the carry out (0 or 1). */
    private static short add(byte[] a, short aOff, byte[] b, short bOff) {
        short carry = 0;
        for (short k = (short) (N - 1); k >= 0; k--) {
            short v = (short) ((short) (a[(short) (aOff + k)] & 0xFF) + (short) (b[(short) (bOff + k)] & 0xFF)
                    + carry);
            a[(short) (aOff + k)] = (byte) v;
            carry = (short) ((short) (v >> 8) & 1);
        }
        return carry;
    }

    /** a -= b over 32 bytes; the borrow out (0 or 1). */
    private static short sub(byte[] a, short aOff, byte[] b, short bOff) {
        short borrow = 0;
        for (short k = (short) (N - 1); k >= 0; k--) {
            short v = (short) ((short) (a[(short) (aOff + k)] & 0xFF) - (short) (b[(short) (bOff + k)] & 0xFF)
                    - borrow);
            a[(short) (aOff + k)] = (byte) v;
            borrow = (short) ((short) (v >> 8) & 1);
        }
        return borrow;
    }

    /** Unsigned comparison of two 32-byte numbers: negative, 0 or positive. */
    private static short compare(byte[] a, short aOff, byte[] b, short bOff) {
        for (short k = 0; k < N; k++) {
            short x = (short) (a[(short) (aOff + k)] & 0xFF);
            short y = (short) (b[(short) (bOff + k)] & 0xFF);
            if (x != y) {
                return (short) (x - y);
            }
        }
        return 0;
    }
}
