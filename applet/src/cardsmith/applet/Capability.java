package cardsmith.applet;

/**
 * One capability of the applet (core, data, backup, duplication, issuance, test): the handlers of the
 * instructions protocol.toml gives it, what CLEAR_BUNDLE resets of it and what it adds to GET INFO. The
 * applet holds every capability in one array indexed by Proto.CAPABILITY_*, made at install; the
 * dispatcher (CardsmithApplet.execute) routes by the generated table Proto.ROUTES and has already checked
 * the CLA, the lifecycle condition and the access condition when dispatch is called.
 */
interface Capability {
    /**
     * Runs one of this capability's instructions: input in[inOff..inOff+inLen), output written into the
     * applet's response buffer from offset 0, its length returned. Refusals are ISOExceptions (the
     * dispatcher rolls an open transaction back). Conditions that depend on P1/P2 or on this capability's
     * own state are checked here (access conditions through CardsmithApplet.requireAccess); the table's
     * lifecycle and access conditions are not.
     */
    short dispatch(byte ins, byte p1, byte p2, byte[] in, short inOff, short inLen);

    /**
     * CLEAR_BUNDLE: back to the state right after install, as far as personalisation or use wrote it.
     * Idempotent (after a power loss CLEAR is simply sent again); persistent multi-field updates go
     * through Tx, in transactions small enough for a card's commit buffer.
     */
    void clear();

    /**
     * Whether a session of this capability is open (a backup or restore session, ...): CLEAR_BUNDLE is
     * refused with 6985 while any capability is busy.
     */
    boolean busy();

    /** Appends this capability's GET INFO TLVs (maybe none) to out at off; returns the new end offset. */
    short putInfo(byte[] out, short off);
}
