package cardsmith.applet;

import javacard.security.AESKey;

/**
 * NIST SP 800-108 counter-mode KDF with AES-CMAC as PRF, one 128-bit block:
 * K = CMAC(key, 01 || label (4) || 00 || context || 0080).
 */
final class Kdf {
    private Kdf() {
    }

    static short derive(Cmac cmac, AESKey key, byte[] label, byte[] ctx, short ctxOff, short ctxLen,
            byte[] out, short outOff) {
        cmac.init(key);
        cmac.updateByte((byte) 0x01);
        cmac.update(label, (short) 0, (short) label.length);
        cmac.updateByte((byte) 0x00);
        cmac.update(ctx, ctxOff, ctxLen);
        cmac.updateByte((byte) 0x00);
        cmac.updateByte((byte) 0x80);
        return cmac.doFinal(out, outOff);
    }
}
