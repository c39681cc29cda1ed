package cardsmith.applet;

import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.AESKey;

/**
 * NIST SP 800-108 counter-mode KDF with AES-CMAC as PRF, laid out as SCP03 does: each PRF input is
 * 11 zero bytes || label (1) || 00 || L in bits (2, big-endian) || counter i (1) || context.
 * Always derives 32 bytes (L = 256), from a raw 32-byte key (duplication) or from an AES key object of
 * either length (self-issuance's personalisation key). (Kdf is the backup format's one-block variant; the
 * layouts are documented in docs/backup.md, docs/duplication.md and docs/self-issuance.md.)
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
        short len = input(label, ctx, ctxOff, ctxLen);
        in[15] = 1;
        cmac.mac(k, kOff, in, (short) 0, len, out, outOff);
        in[15] = 2;
        cmac.mac(k, kOff, in, (short) 0, len, out, (short) (outOff + Cmac.BLOCK));
        Util.arrayFillNonAtomic(in, (short) 0, (short) in.length, (byte) 0);
    }

    /** out[outOff..+32) = KDF(key, label, ctx[ctxOff..+ctxLen)) for an AES key object (128 or 256 bits). */
    void derive(AESKey key, byte label, byte[] ctx, short ctxOff, short ctxLen, byte[] out, short outOff) {
        short len = input(label, ctx, ctxOff, ctxLen);
        for (short i = 0; i < 2; i++) {
            in[15] = (byte) (i + 1);
            cmac.init(key);
            cmac.update(in, (short) 0, len);
            cmac.doFinal(out, (short) (outOff + i * Cmac.BLOCK));
        }
        Util.arrayFillNonAtomic(in, (short) 0, (short) in.length, (byte) 0);
    }

    /** Lays out the PRF input (counter byte left for the caller); returns its length. */
    private short input(byte label, byte[] ctx, short ctxOff, short ctxLen) {
        Util.arrayFillNonAtomic(in, (short) 0, FIXED, (byte) 0);
        in[11] = label;
        in[12] = 0;
        Util.setShort(in, (short) 13, (short) 256);
        if (ctxLen > 0) {
            Util.arrayCopyNonAtomic(ctx, ctxOff, in, FIXED, ctxLen);
        }
        return (short) (FIXED + ctxLen);
    }
}
