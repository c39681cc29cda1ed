package com.licel.jcardsim.crypto;

import java.security.SecureRandom;

/**
 * Simulator only: replaces jCardSim 3.0.6's class of this name, which is an unseeded SHA-1 digest PRNG. jCardSim
 * gives one to every KeyPairImpl and AsymmetricSignatureImpl it creates, so without this every simulated card
 * generated the same key pairs at install (the trust, identity and duplication keys) and the same ECDSA nonces.
 * It comes first on the simulator's class path (build/cardsmith-sim*.jar before jCardSim's jar), so jCardSim's
 * own classes construct this one: the JVM's SecureRandom. Never in a CAP; real cards use their own TRNG.
 */
public class SecureRandomNullProvider extends SecureRandom {
    private static final long serialVersionUID = 1L;

    public SecureRandomNullProvider() {
        super();
    }
}
