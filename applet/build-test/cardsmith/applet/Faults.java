package cardsmith.applet;

import javacard.framework.Util;

/**
 * TEST BUILD ONLY (never converted, never on a card): simulated power loss.
 *
 * <p>TEST_FAULT with P1P2 = n arms a countdown: the n-th Faults.point() reached afterwards (0 = the first)
 * "cuts the power": the open transaction is rolled back, and a Tear is thrown out of the applet. The
 * simulator bridge sees it through consumeTear(), resets the card (transient memory cleared) and reports
 * the card as removed mid-command. P1P2 = FFFF disarms. Tx.copy and Tx.fill are fault points, so every
 * transactional write can be interrupted; code adds Faults.point() where else an interruption matters.
 * The countdown is JVM-wide: arm it on the card that runs the operation under test.
 */
final class Faults {
    private static short countdown = -1;
    private static boolean torn;

    private Faults() {
    }

    static void point() {
        if (countdown < 0) {
            return;
        }
        if (countdown == 0) {
            countdown = -1;
            torn = true;
            Tx.abort();
            throw new Tear();
        }
        countdown--;
    }

    /** Rethrows the simulated power loss (catch-all handlers call this first; see the production Faults). */
    static void passPowerLoss(Exception e) {
        if (e instanceof Tear) {
            throw (Tear) e;
        }
    }

    static short command(byte p1, byte p2) {
        countdown = Util.makeShort(p1, p2);
        return 0;
    }

    /** Whether a simulated power loss happened since the last call (read by the simulator bridge). */
    public static boolean consumeTear() {
        boolean t = torn;
        torn = false;
        return t;
    }

    /** The simulated power loss. */
    static final class Tear extends RuntimeException {
        private static final long serialVersionUID = 1L;
    }
}
