package cardsmith.applet;

import java.util.ArrayList;
import javacard.framework.JCSystem;
import javacard.framework.TransactionException;
import javacard.framework.Util;

/**
 * TEST BUILD ONLY (never converted, never on a card). Same API as the production Tx, plus an undo journal
 * of every write made inside a transaction, so that Faults can roll an interrupted transaction back as a
 * real card does at power-up. jCardSim's own transactions only count depth and never roll back.
 *
 * <p>The journal is also a card's bounded commit buffer: a transaction may journal at most CAPACITY bytes,
 * each write costing its length plus ENTRY_OVERHEAD bytes of bookkeeping; the write that would go beyond
 * throws TransactionException.BUFFER_FULL before touching the array, as a card does (jCardSim has no limit).
 * CAPACITY is the environment variable CARDSMITH_COMMIT_CAPACITY of the simulator's JVM, default
 * DEFAULT_CAPACITY. Transient arrays are not journalled (a card never rolls them back either).
 */
final class Tx {
    private static final ArrayList<Object[]> JOURNAL = new ArrayList<Object[]>();
    /** The smallest commit buffer the applet is designed for (docs/card-requirements.md). */
    static final short DEFAULT_CAPACITY = 512;
    /** Bytes of bookkeeping a card's commit buffer spends per journalled write (address and length). */
    static final short ENTRY_OVERHEAD = 4;
    private static final short CAPACITY = capacityFromEnvironment();
    /** Bytes of the commit buffer the open transaction has used. */
    private static int used;

    private Tx() {
    }

    private static short capacityFromEnvironment() {
        String v = System.getenv("CARDSMITH_COMMIT_CAPACITY");
        if (v == null || v.isEmpty()) {
            return DEFAULT_CAPACITY;
        }
        int n = Integer.parseInt(v.trim());
        if (n < 64 || n > 32767) {
            throw new IllegalArgumentException("CARDSMITH_COMMIT_CAPACITY must be 64..32767, got " + v);
        }
        return (short) n;
    }

    /** What JCSystem.getMaxCommitCapacity() answers on a card with this commit buffer. */
    static short maxCommitCapacity() {
        return CAPACITY;
    }

    /** A unit holds the transaction: begin()/commit() inside it join (see the production Tx). */
    private static boolean unit;

    static void begin() {
        if (unit) {
            return;
        }
        JCSystem.beginTransaction();
        clearJournal();
    }

    static void commit() {
        if (unit) {
            return;
        }
        JCSystem.commitTransaction();
        clearJournal();
    }

    static void beginUnit() {
        JCSystem.beginTransaction();
        clearJournal();
        unit = true;
    }

    static void commitUnit() {
        unit = false;
        JCSystem.commitTransaction();
        clearJournal();
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
        clearJournal();
    }

    private static void clearJournal() {
        JOURNAL.clear();
        used = 0;
    }

    private static void journal(byte[] dst, short off, short len) {
        if (JCSystem.getTransactionDepth() != 0 && JCSystem.isTransient(dst) == JCSystem.NOT_A_TRANSIENT_OBJECT) {
            if (off < 0 || len < 0 || off + len > dst.length) {
                throw new ArrayIndexOutOfBoundsException(off + len); // as the write itself would
            }
            if (used + len + ENTRY_OVERHEAD > CAPACITY) {
                TransactionException.throwIt(TransactionException.BUFFER_FULL);
            }
            used += len + ENTRY_OVERHEAD;
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
