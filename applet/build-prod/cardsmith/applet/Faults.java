package cardsmith.applet;

import javacard.framework.ISOException;

/**
 * Fault injection points. In this production version they do nothing and the TEST_FAULT command does not
 * exist (6D00); the test build (applet/build-test) can simulate a power loss at any point.
 */
final class Faults {
    private Faults() {
    }

    /** A place where the test build may simulate a power loss. */
    static void point() {
    }

    /**
     * Code that catches every exception (Bundle: an inner command's failure, whatever it is) hands it here
     * first; the test build rethrows its simulated power loss, which no applet code may swallow.
     */
    static void passPowerLoss(Exception e) {
    }

    static short command(byte p1, byte p2) {
        ISOException.throwIt(Proto.SW_INS_NOT_SUPPORTED);
        return 0;
    }
}
