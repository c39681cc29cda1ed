package cardsmith.applet;

import javacard.framework.ISOException;
import javacard.security.CryptoException;
import javacard.security.KeyAgreement;
import javacard.security.MessageDigest;
import javacard.security.RandomData;
import javacard.security.Signature;
import javacardx.crypto.Cipher;

/**
 * The one place the applet asks the platform for algorithms. Each is probed once at install; one shared
 * instance of each serves every capability (cards have few crypto objects). A capability that needs an
 * algorithm the card lacks gets 6A81 (function not supported) instead of an uncaught CryptoException, and
 * GET INFO lists what is there (INFO_ALGORITHMS, ALGO_* bits).
 */
final class Algorithms {
    private final Cipher aesCbc;
    private final Cipher aesEcb;
    private final MessageDigest sha256;
    private final Signature ecdsa;
    private final KeyAgreement ecdh;
    private final RandomData random;
    private final short available;

    Algorithms() {
        short bits = 0;
        Cipher cbc = null;
        Cipher ecb = null;
        MessageDigest sha = null;
        Signature sig = null;
        KeyAgreement ka = null;
        try {
            cbc = Cipher.getInstance(Cipher.ALG_AES_BLOCK_128_CBC_NOPAD, false);
            bits |= Proto.ALGO_AES_CBC;
        } catch (CryptoException e) {
            cbc = null;
        }
        try {
            ecb = Cipher.getInstance(Cipher.ALG_AES_BLOCK_128_ECB_NOPAD, false);
            bits |= Proto.ALGO_AES_ECB;
        } catch (CryptoException e) {
            ecb = null;
        }
        try {
            sha = MessageDigest.getInstance(MessageDigest.ALG_SHA_256, false);
            bits |= Proto.ALGO_SHA256;
        } catch (CryptoException e) {
            sha = null;
        }
        try {
            sig = Signature.getInstance(Signature.ALG_ECDSA_SHA_256, false);
            bits |= Proto.ALGO_ECDSA_SHA256;
        } catch (CryptoException e) {
            sig = null;
        }
        try {
            ka = KeyAgreement.getInstance(KeyAgreement.ALG_EC_SVDP_DH_PLAIN, false); // in the 3.0.4 API
            bits |= Proto.ALGO_ECDH_PLAIN;
        } catch (CryptoException e) {
            ka = null;
        }
        aesCbc = cbc;
        aesEcb = ecb;
        sha256 = sha;
        ecdsa = sig;
        ecdh = ka;
        // Without a secure random the card cannot make ids or keys at all: let install fail loudly.
        random = RandomData.getInstance(RandomData.ALG_SECURE_RANDOM);
        available = bits;
    }

    private static Object need(Object algorithm) {
        if (algorithm == null) {
            ISOException.throwIt(Proto.SW_FUNCTION_NOT_SUPPORTED);
        }
        return algorithm;
    }

    Cipher aesCbc() {
        return (Cipher) need(aesCbc);
    }

    Cipher aesEcb() {
        return (Cipher) need(aesEcb);
    }

    MessageDigest sha256() {
        return (MessageDigest) need(sha256);
    }

    Signature ecdsa() {
        return (Signature) need(ecdsa);
    }

    KeyAgreement ecdh() {
        return (KeyAgreement) need(ecdh);
    }

    RandomData random() {
        return random;
    }

    /** ALGO_* bits of what this card offers. */
    short available() {
        return available;
    }
}
