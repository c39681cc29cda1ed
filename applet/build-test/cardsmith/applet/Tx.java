package cardsmith.applet;

import java.util.ArrayList;
import javacard.framework.JCSystem;
import javacard.framework.Util;

/**
 * TEST BUILD ONLY (never converted, never on a card). Same API as the production Tx, plus an undo journal
 * of every write made inside a transaction, so that Faults can roll an interrupted transaction back as a
 * real card does at power-up. jCardSim's own transactions only count depth and never roll back.
 */
final class Tx {
    private static final ArrayList<Object[]> JOURNAL = new ArrayList<Object[]>();

    private Tx() {
    }

    /** A unit holds the transaction: begin()/commit() inside it join (see the production Tx). */
    private static boolean unit;

    static void begin() {
        if (unit) {
            return;
        }
        JCSystem.beginTransaction();
        JOURNAL.clear();
    }

    static void commit() {
        if (unit) {
            return;
        }
        JCSystem.commitTransaction();
        JOURNAL.clear();
    }

    static void beginUnit() {
        JCSystem.beginTransaction();
        JOURNAL.clear();
        unit = true;
    }

    static void commitUnit() {
        unit = false;
        JCSystem.commitTransaction();
        JOURNAL.clear();
    }

    static void abort() {
        if (JCSystem.getTransactionDepth() != 0) {
            rollback();
            JCSystem.abortTransaction();
        }
        unit = false;
    }

    /** Undoes the journalled writes, newest first. */
    static void rollback() {
        for (int i = JOURNAL.size() - 1; i >= 0; i--) {
            Object[] e = JOURNAL.get(i);
            byte[] old = (byte[]) e[2];
            System.arraycopy(old, 0, (byte[]) e[0], (Integer) e[1], old.length);
        }
        JOURNAL.clear();
    }

    private static void journal(byte[] dst, short off, short len) {
        if (JCSystem.getTransactionDepth() != 0) {
            byte[] old = new byte[len];
            System.arraycopy(dst, off, old, 0, len);
            JOURNAL.add(new Object[] {dst, Integer.valueOf(off), old});
        }
    }

    static short copy(byte[] src, short srcOff, byte[] dst, short dstOff, short len) {
        journal(dst, dstOff, len);
        Faults.point();
        return Util.arrayCopy(src, srcOff, dst, dstOff, len);
    }

    static short setShort(byte[] dst, short off, short value) {
        journal(dst, off, (short) 2);
        return Util.setShort(dst, off, value);
    }

    static void setByte(byte[] dst, short off, byte value) {
        journal(dst, off, (short) 1);
        dst[off] = value;
    }

    static void fill(byte[] dst, short off, short len, byte value) {
        journal(dst, off, len);
        Faults.point();
        for (short i = off; i < (short) (off + len); i++) {
            dst[i] = value;
        }
    }
}
