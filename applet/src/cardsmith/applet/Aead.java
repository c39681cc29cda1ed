package cardsmith.applet;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.KeyBuilder;
import javacardx.crypto.Cipher;

/**
 * The duplication blobs' construction (docs/duplication.md, "Cryptography"): AES-256-CBC with an IV, then AES-CMAC over header || IV ||
 * ciphertext (encrypt-then-MAC), with the encryption and MAC keys derived from one 32-byte key by Kdf
 * (labels LABEL_ENC / LABEL_MAC, a short context). Blob layout: header || IV (16) || ciphertext || tag (16).
 * Plaintext is padded with ISO/IEC 9797-1 method 2 (80 00..) to whole blocks.
 */
final class Aead {
    static final short IV_LENGTH = 16;
    static final short TAG_LENGTH = 16;
    private final Algorithms algorithms;
    private final Cmac cmac;
    private final Kdf256 kdf;
    private final AESKey key;
    /** [0..32) derived encryption key, [32..64) derived MAC key, [64..80) tag scratch. */
    private final byte[] k;

    Aead(Algorithms algorithms, Cmac cmac, Kdf256 kdf) {
        this.algorithms = algorithms;
        this.cmac = cmac;
        this.kdf = kdf;
        key = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES_TRANSIENT_DESELECT, KeyBuilder.LENGTH_AES_256, false);
        k = JCSystem.makeTransientByteArray((short) 80, JCSystem.CLEAR_ON_DESELECT);
    }

    private void keys(byte[] master, short mOff, byte[] ctx, short ctxOff, short ctxLen) {
        kdf.derive(master, mOff, Kdf256.LABEL_ENC, ctx, ctxOff, ctxLen, k, (short) 0);
        kdf.derive(master, mOff, Kdf256.LABEL_MAC, ctx, ctxOff, ctxLen, k, (short) 32);
    }

    /** Pads buf[off..off+len) in place to whole blocks; returns the padded length. */
    static short pad(byte[] buf, short off, short len) {
        short padded = (short) ((short) (len / Cmac.BLOCK + 1) * Cmac.BLOCK);
        buf[(short) (off + len)] = (byte) 0x80;
        Util.arrayFillNonAtomic(buf, (short) (off + len + 1), (short) (padded - len - 1), (byte) 0);
        return padded;
    }

    /** Length of buf[off..off+len) without its padding; 6A80 if the padding is malformed. */
    static short unpad(byte[] buf, short off, short len) {
        short i = (short) (off + len - 1);
        while (i >= off && buf[i] == 0) {
            i--;
        }
        if (i < off || buf[i] != (byte) 0x80 || (short) (off + len - i) > Cmac.BLOCK) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        return (short) (i - off);
    }

    /**
     * Seals in place: buf[off..) holds header (hdrLen), IV (16, filled by the caller), padded plaintext
     * (ptLen, a multiple of 16). Encrypts the plaintext and appends the tag; returns the blob length.
     */
    short seal(byte[] master, short mOff, byte[] ctx, short ctxOff, short ctxLen,
               byte[] buf, short off, short hdrLen, short ptLen) {
        keys(master, mOff, ctx, ctxOff, ctxLen);
        short ivOff = (short) (off + hdrLen);
        short ctOff = (short) (ivOff + IV_LENGTH);
        key.setKey(k, (short) 0);
        Cipher cbc = algorithms.aesCbc();
        cbc.init(key, Cipher.MODE_ENCRYPT, buf, ivOff, IV_LENGTH);
        cbc.doFinal(buf, ctOff, ptLen, buf, ctOff);
        short macLen = (short) (hdrLen + IV_LENGTH + ptLen);
        cmac.mac(k, (short) 32, buf, off, macLen, buf, (short) (off + macLen));
        clear();
        return (short) (macLen + TAG_LENGTH);
    }

    /**
     * Opens in place a blob of total length len at buf[off..): checks the tag (6A80 on mismatch, nothing
     * decrypted), decrypts the ciphertext in place; returns the padded plaintext length, which starts at
     * off + hdrLen + 16.
     */
    short open(byte[] master, short mOff, byte[] ctx, short ctxOff, short ctxLen,
               byte[] buf, short off, short hdrLen, short len) {
        short ctLen = (short) (len - hdrLen - IV_LENGTH - TAG_LENGTH);
        if (ctLen <= 0 || (short) (ctLen % Cmac.BLOCK) != 0) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        keys(master, mOff, ctx, ctxOff, ctxLen);
        short macLen = (short) (len - TAG_LENGTH);
        cmac.mac(k, (short) 32, buf, off, macLen, k, (short) 64);
        if (!Bytes.equalsConstantTime(k, (short) 64, buf, (short) (off + macLen), TAG_LENGTH)) {
            clear();
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        short ivOff = (short) (off + hdrLen);
        short ctOff = (short) (ivOff + IV_LENGTH);
        key.setKey(k, (short) 0);
        Cipher cbc = algorithms.aesCbc();
        cbc.init(key, Cipher.MODE_DECRYPT, buf, ivOff, IV_LENGTH);
        cbc.doFinal(buf, ctOff, ctLen, buf, ctOff);
        clear();
        return ctLen;
    }

    private void clear() {
        Util.arrayFillNonAtomic(k, (short) 0, (short) k.length, (byte) 0);
        key.clearKey();
    }
}
