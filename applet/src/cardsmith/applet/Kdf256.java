package cardsmith.applet;

import javacard.framework.JCSystem;
import javacard.framework.Util;

/**
 * NIST SP 800-108 counter-mode KDF with AES-CMAC as PRF, laid out as SCP03 does: each PRF input is
 * 11 zero bytes || label (1) || 00 || L in bits (2, big-endian) || counter i (1) || context.
 * Always derives 32 bytes (an AES-256 key, L = 256) from a 32-byte key. (Kdf is the backup format's
 * one-block variant; the two layouts are documented in docs/backup.md and docs/duplication.md.)
 */
final class Kdf256 {
    static final byte LABEL_ENC = (byte) 0x04;
    static final byte LABEL_MAC = (byte) 0x06;
    static final byte LABEL_RECEIPT = (byte) 0x20;
    private static final short FIXED = 16;
    private static final short MAX_CONTEXT = 16;
    private final Cmac cmac;
    private final byte[] in;

    Kdf256(Cmac cmac) {
        this.cmac = cmac;
        in = JCSystem.makeTransientByteArray((short) (FIXED + MAX_CONTEXT), JCSystem.CLEAR_ON_DESELECT);
    }

    /** out[outOff..+32) = KDF(k[kOff..+32), label, ctx[ctxOff..+ctxLen)); ctxLen at most 16. */
    void derive(byte[] k, short kOff, byte label, byte[] ctx, short ctxOff, short ctxLen, byte[] out, short outOff) {
        Util.arrayFillNonAtomic(in, (short) 0, FIXED, (byte) 0);
        in[11] = label;
        in[12] = 0;
        Util.setShort(in, (short) 13, (short) 256);
        if (ctxLen > 0) {
            Util.arrayCopyNonAtomic(ctx, ctxOff, in, FIXED, ctxLen);
        }
        in[15] = 1;
        cmac.mac(k, kOff, in, (short) 0, (short) (FIXED + ctxLen), out, outOff);
        in[15] = 2;
        cmac.mac(k, kOff, in, (short) 0, (short) (FIXED + ctxLen), out, (short) (outOff + Cmac.BLOCK));
        Util.arrayFillNonAtomic(in, (short) 0, (short) in.length, (byte) 0);
    }
}
