package cardsmith.applet;

/**
 * Capability "test": TEST_FAULT. The production Faults answers 6D00; the test build's arms the simulated
 * power loss (docs/developing.md, "Power loss (tearing) in tests"). No state to clear, nothing for GET INFO.
 */
final class FaultCommand implements Capability {
    public short dispatch(byte ins, byte p1, byte p2, byte[] in, short inOff, short inLen) {
        return Faults.command(p1, p2);
    }

    public void clear() {
    }

    public boolean busy() {
        return false;
    }

    public short putInfo(byte[] out, short off) {
        return off;
    }
}
