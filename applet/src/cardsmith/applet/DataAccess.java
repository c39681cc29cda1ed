package cardsmith.applet;

import javacard.framework.ISOException;
import javacard.framework.Util;

/**
 * Capability "data": DEFINE_REGION, WRITE_DATA and READ_DATA on the data area (DataArea holds the pages,
 * the dirty bits and the region table with its restore flags; this class owns the commands and CLEAR's
 * wipe of all three). A backup or restore session in progress (Backup) blocks writes, and a write tells
 * Backup that the data no longer equals the last restored backup.
 */
final class DataAccess implements Capability {
    private final CardsmithApplet applet;
    private final DataArea area;
    private final Backup backup;

    DataAccess(CardsmithApplet applet, Backup backup) {
        this.applet = applet;
        area = applet.dataArea();
        this.backup = backup;
    }

    public short dispatch(byte ins, byte p1, byte p2, byte[] in, short off, short len) {
        switch (ins) {
            case Proto.INS_DEFINE_REGION:
                CardsmithApplet.requireP1P2(p1, p2);
                requireLength(len, DataArea.ENTRY);
                area.define(in, off);
                return 0;
            case Proto.INS_WRITE_DATA:
                return writeData(p1, p2, in, off, len);
            case Proto.INS_READ_DATA:
                return readData(p1, p2, in, off, len);
            default:
                ISOException.throwIt(Proto.SW_INS_NOT_SUPPORTED);
                return 0;
        }
    }

    private static void requireLength(short len, short want) {
        if (len != want) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
    }

    private static void requireP1Flag(byte p1, byte p2) {
        if (p2 != 0 || (p1 != 0 && p1 != 1)) {
            ISOException.throwIt(Proto.SW_INCORRECT_P1P2);
        }
    }

    private short writeData(byte p1, byte p2, byte[] in, short off, short len) {
        requireP1Flag(p1, p2);
        if (len < 1 || (p1 == 0 && len < 3) || (p1 == 1 && len != 1)) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        if (backup.sessionOpen()) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
        }
        short e = area.require(in[off]);
        if (p1 == 1) {
            if ((area.flags(e) & Proto.REGION_FLAG_TOUCHED) != 0) {
                ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
            }
            Tx.begin();
            area.setFlags(e, (byte) (area.flags(e) & (byte) ~Proto.REGION_FLAG_RESTORED));
            Tx.commit();
            return 0;
        }
        requireRegionAccess(e, true);
        area.prepareUse(e);
        backup.dataChanged();
        area.write(e, Util.getShort(in, (short) (off + 1)), in, (short) (off + 3), (short) (len - 3));
        return 0;
    }

    /**
     * The one place a region's own access conditions are enforced (on top of WRITE_DATA's and READ_DATA's
     * in the table; docs/security.md, "Regions"): on an ISSUED card a value region is written only in a
     * session with permission value (the holder PIN alone never changes a value), and a READ_PIN region
     * is read only with the PIN verified or with permission read. INSTALLED is personalisation: the
     * table's conditions alone.
     */
    private void requireRegionAccess(short e, boolean write) {
        if (applet.lifecycle() == Proto.LIFECYCLE_INSTALLED) {
            return;
        }
        byte f = area.flags(e);
        if (write && (f & Proto.REGION_FLAG_VALUE) != 0) {
            applet.requireAccess((byte) (Proto.ACCESS_ROLE | Proto.PERM_VALUE));
        }
        if (!write && (f & Proto.REGION_FLAG_READ_PIN) != 0) {
            applet.requireAccess((byte) (Proto.ACCESS_PIN_OR_ROLE | Proto.PERM_READ));
        }
    }

    private short readData(byte p1, byte p2, byte[] in, short off, short len) {
        requireP1Flag(p1, p2);
        byte[] rsp = applet.responseBuffer();
        if (p1 == 1) {
            requireLength(len, (short) 0);
            return area.listRegions(rsp, (short) 0);
        }
        requireLength(len, (short) 5);
        short e = area.require(in[off]);
        short n = Util.getShort(in, (short) (off + 3));
        if (n < 0 || n > Proto.RESPONSE_BUFFER_SIZE) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        if (backup.sessionOpen() && (area.flags(e) & Proto.REGION_FLAG_ZERO_PENDING) != 0) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED); // zeroing would change a snapshot
        }
        requireRegionAccess(e, false);
        area.prepareUse(e);
        return area.read(e, Util.getShort(in, (short) (off + 1)), n, rsp, (short) 0);
    }

    /**
     * No regions, zero pages, no dirty bits. The region table goes first, in one small transaction: from
     * then on no command can name a region, so a power loss during the non-atomic page wipe that follows
     * leaves stale bytes nobody can read or write, and CLEAR sent again finishes the wipe. (The wipe is not
     * one transaction: the data area is far larger than a card's commit buffer.)
     */
    public void clear() {
        byte[] t = area.regionTable();
        Tx.begin();
        Tx.fill(t, (short) 0, (short) t.length, (byte) 0);
        Tx.commit();
        for (short p = 0; p < area.pageCount(); p++) {
            Util.arrayFillNonAtomic(area.segmentOf(p), area.offsetOf(p), area.pageSize(), (byte) 0);
        }
        byte[] dirty = area.dirtyBits();
        Util.arrayFillNonAtomic(dirty, (short) 0, (short) dirty.length, (byte) 0);
    }

    /** The data area has no session of its own (a backup or restore session is Backup's). */
    public boolean busy() {
        return false;
    }

    /** INFO_DATA_AREA: page size and page count. */
    public short putInfo(byte[] out, short off) {
        off = Tlv.putHeader(out, off, Proto.TAG_INFO_DATA_AREA, (short) 4);
        off = Util.setShort(out, off, area.pageSize());
        return Util.setShort(out, off, area.pageCount());
    }
}
