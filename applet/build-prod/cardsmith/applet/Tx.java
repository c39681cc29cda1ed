package cardsmith.applet;

import javacard.framework.JCSystem;
import javacard.framework.Util;

/**
 * Atomic persistent updates. Every multi-field update of persistent state goes begin() .. writes ..
 * commit(), with the writes made through this class. This is the production version: plain Java Card
 * transactions. The test build (applet/build-test) has the same API and additionally journals the writes
 * so that a simulated power loss can roll them back, which jCardSim itself does not do.
 */
final class Tx {
    private Tx() {
    }

    /**
     * True while a unit (Bundle: several inner commands and the progress counter) holds the transaction;
     * begin() and commit() of the commands inside then join it. Persistent, but written only inside the
     * unit's own transaction, so a power loss rolls it back to false with everything else.
     */
    private static boolean unit;

    /** Bytes the card's commit buffer holds for one transaction (DataArea sizes its writes by it). */
    static short maxCommitCapacity() {
        return JCSystem.getMaxCommitCapacity();
    }

    static void begin() {
        if (unit) {
            return;
        }
        JCSystem.beginTransaction();
    }

    static void commit() {
        if (unit) {
            return;
        }
        JCSystem.commitTransaction();
    }

    /** Opens a transaction that the begin()/commit() pairs of the commands run inside it join. */
    static void beginUnit() {
        JCSystem.beginTransaction();
        unit = true;
    }

    /** Commits the unit opened by beginUnit(). */
    static void commitUnit() {
        unit = false;
        JCSystem.commitTransaction();
    }

    /** Rolls back the open transaction (a whole unit, when one is open), if any. */
    static void abort() {
        if (JCSystem.getTransactionDepth() != 0) {
            JCSystem.abortTransaction();
        }
        unit = false;
    }

    static short copy(byte[] src, short srcOff, byte[] dst, short dstOff, short len) {
        return Util.arrayCopy(src, srcOff, dst, dstOff, len);
    }

    static short setShort(byte[] dst, short off, short value) {
        return Util.setShort(dst, off, value);
    }

    static void setByte(byte[] dst, short off, byte value) {
        dst[off] = value;
    }

    /** Fills dst[off..off+len) with value, inside the transaction (Util.arrayFillNonAtomic is not). */
    static void fill(byte[] dst, short off, short len, byte value) {
        short end = (short) (off + len);
        for (short i = off; i < end; i++) {
            dst[i] = value;
        }
    }
}
