package cardsmith.applet;

import javacard.security.CryptoException;
import javacard.security.ECKey;
import javacard.security.ECPrivateKey;
import javacard.security.ECPublicKey;
import javacard.security.KeyBuilder;
import javacard.security.KeyPair;

/** NIST P-256 (secp256r1) domain parameters: Java Card keys come without a curve, so we set it. */
final class P256 {
    static final short KEY_BITS = KeyBuilder.LENGTH_EC_FP_256;
    /** Uncompressed point length: 04 || X || Y. */
    static final short POINT_LENGTH = 65;
    static final short SCALAR_LENGTH = 32;

    static final byte[] P = {
        (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF,
        (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF};
    private static final byte[] A = {
        (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF,
        (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFC};
    static final byte[] B = {
        0x5A, (byte) 0xC6, 0x35, (byte) 0xD8, (byte) 0xAA, 0x3A, (byte) 0x93, (byte) 0xE7, (byte) 0xB3,
        (byte) 0xEB, (byte) 0xBD, 0x55, 0x76, (byte) 0x98, (byte) 0x86, (byte) 0xBC, 0x65, 0x1D, 0x06,
        (byte) 0xB0, (byte) 0xCC, 0x53, (byte) 0xB0, (byte) 0xF6, 0x3B, (byte) 0xCE, 0x3C, 0x3E, 0x27,
        (byte) 0xD2, 0x60, 0x4B};
    private static final byte[] G = {
        0x04, 0x6B, 0x17, (byte) 0xD1, (byte) 0xF2, (byte) 0xE1, 0x2C, 0x42, 0x47, (byte) 0xF8, (byte) 0xBC,
        (byte) 0xE6, (byte) 0xE5, 0x63, (byte) 0xA4, 0x40, (byte) 0xF2, 0x77, 0x03, 0x7D, (byte) 0x81, 0x2D,
        (byte) 0xEB, 0x33, (byte) 0xA0, (byte) 0xF4, (byte) 0xA1, 0x39, 0x45, (byte) 0xD8, (byte) 0x98,
        (byte) 0xC2, (byte) 0x96, 0x4F, (byte) 0xE3, 0x42, (byte) 0xE2, (byte) 0xFE, 0x1A, 0x7F, (byte) 0x9B,
        (byte) 0x8E, (byte) 0xE7, (byte) 0xEB, 0x4A, 0x7C, 0x0F, (byte) 0x9E, 0x16, 0x2B, (byte) 0xCE, 0x33,
        0x57, 0x6B, 0x31, 0x5E, (byte) 0xCE, (byte) 0xCB, (byte) 0xB6, 0x40, 0x68, 0x37, (byte) 0xBF, 0x51,
        (byte) 0xF5};
    private static final byte[] N = {
        (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x00, 0x00, 0x00, 0x00, (byte) 0xFF, (byte) 0xFF,
        (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xBC, (byte) 0xE6,
        (byte) 0xFA, (byte) 0xAD, (byte) 0xA7, 0x17, (byte) 0x9E, (byte) 0x84, (byte) 0xF3, (byte) 0xB9,
        (byte) 0xCA, (byte) 0xC2, (byte) 0xFC, 0x63, 0x25, 0x51};

    private P256() {
    }

    /** Sets the P-256 domain parameters on a key (public or private). */
    static void setCurve(ECKey key) {
        key.setFieldFP(P, (short) 0, (short) P.length);
        key.setA(A, (short) 0, (short) A.length);
        key.setB(B, (short) 0, (short) B.length);
        key.setG(G, (short) 0, (short) G.length);
        key.setR(N, (short) 0, (short) N.length);
        key.setK((short) 1);
    }

    /**
     * An ephemeral P-256 key pair (allocate at install only) whose private scalar lives in RAM
     * (TYPE_EC_FP_PRIVATE_TRANSIENT_DESELECT, Java Card 3.0.4): generating one writes no secret to
     * persistent memory, and the scalar is gone at deselect or power loss. A card without the transient type
     * gets a persistent private key (CryptoException.NO_SUCH_ALGORITHM at buildKey). Java Card has no
     * transient EC public key type before 3.1, so the public point stays persistent (not secret). The curve
     * is set here and must be set again before each genKeyPair: a transient key loses it at deselect, and
     * clearKey drops it.
     */
    static KeyPair newEphemeralKeyPair() {
        ECPrivateKey priv;
        try {
            priv = (ECPrivateKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PRIVATE_TRANSIENT_DESELECT, KEY_BITS,
                    false);
        } catch (CryptoException e) {
            priv = (ECPrivateKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PRIVATE, KEY_BITS, false);
        }
        ECPublicKey pub = (ECPublicKey) KeyBuilder.buildKey(KeyBuilder.TYPE_EC_FP_PUBLIC, KEY_BITS, false);
        KeyPair pair = new KeyPair(pub, priv);
        setCurve(pub);
        setCurve(priv);
        return pair;
    }

    /** A P-256 key pair object (allocate at install only) with the curve set on both halves. */
    static KeyPair newKeyPair() {
        KeyPair pair = new KeyPair(KeyPair.ALG_EC_FP, KEY_BITS);
        setCurve((ECKey) pair.getPublic());
        setCurve((ECKey) pair.getPrivate());
        return pair;
    }
}
