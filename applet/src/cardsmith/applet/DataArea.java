package cardsmith.applet;

import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.Util;

/**
 * The persistent data area: pageCount pages of pageSize bytes, held in segments of at most
 * SEGMENT_BYTES so that areas beyond a Java Card array's 32767-byte limit work. Pages never cross a
 * segment. A dirty bit per page (what a differential backup sends, docs/backup.md) lives outside the
 * area, and so does the region table: MAX_REGIONS entries of id (1, 0 = free), flags (1, REGION_FLAG_*),
 * first page (2), page count (2). The commands on it are DataAccess's; Backup reads and restores it.
 */
final class DataArea {
    static final short SEGMENT_BYTES = 8192;
    static final short ENTRY = 6;
    private static final short E_ID = 0;
    private static final short E_FLAGS = 1;
    private static final short E_FIRST = 2;
    private static final short E_COUNT = 4;
    /** Flags DEFINE_REGION accepts; the others are state the card keeps. */
    static final byte DEFINABLE_FLAGS = (byte) (Proto.REGION_FLAG_VALUE | Proto.REGION_FLAG_READ_PIN);

    private final short pageSize;
    private final short pageCount;
    private final short pagesPerSegment;
    private final Object[] segments;
    private final byte[] dirty;
    private final byte[] regions;
    /** The largest WRITE_DATA payload: what one transaction of the card's commit buffer takes (maxWrite). */
    private final short maxWrite;

    DataArea(short pageSize, short pageCount) {
        if (!validPageSize(pageSize) || pageCount < 1 || pageCount > Proto.MAX_PAGE_COUNT) {
            ISOException.throwIt(ISO7816.SW_WRONG_DATA);
        }
        this.pageSize = pageSize;
        this.pageCount = pageCount;
        pagesPerSegment = (short) (SEGMENT_BYTES / pageSize);
        short count = (short) ((short) (pageCount + pagesPerSegment - 1) / pagesPerSegment);
        segments = new Object[count];
        short left = pageCount;
        for (short i = 0; i < count; i++) {
            short pages = left < pagesPerSegment ? left : pagesPerSegment;
            segments[i] = new byte[(short) (pages * pageSize)];
            left -= pages;
        }
        dirty = new byte[(short) ((short) (pageCount + 7) >> 3)];
        regions = new byte[(short) (Proto.MAX_REGIONS * ENTRY)];
        maxWrite = writeLimit(Tx.maxCommitCapacity());
    }

    /** Commit-buffer bytes a write keeps for bookkeeping: its dirty bits and the card's per-write headers. */
    static final short WRITE_RESERVE = 128;

    /**
     * The largest write one transaction of a commit buffer of capacity bytes takes: the capacity less
     * WRITE_RESERVE (half of it below 256), in whole 16-byte blocks, at most what a command can carry.
     * A write touches at most two segments (two copies) and nine dirty-bit bytes, so the reserve covers
     * a card that spends up to 8 bytes of header per journalled write.
     */
    static short writeLimit(short capacity) {
        short w = capacity < 256 ? (short) (capacity / 2) : (short) (capacity - WRITE_RESERVE);
        short most = (short) (Proto.COMMAND_BUFFER_SIZE - 3);
        if (w > most) {
            w = most;
        }
        w = (short) (w & (short) 0x7FF0);
        return w < 16 ? 16 : w;
    }

    /** The largest WRITE_DATA payload (GET INFO's INFO_COMMIT). */
    short maxWrite() {
        return maxWrite;
    }

    private static boolean validPageSize(short size) {
        return size == 16 || size == 32 || size == 64 || size == 128 || size == 256;
    }

    short pageSize() {
        return pageSize;
    }

    short pageCount() {
        return pageCount;
    }

    /** The array that holds page. */
    byte[] segmentOf(short page) {
        return (byte[]) segments[(short) (page / pagesPerSegment)];
    }

    /** Offset of page inside segmentOf(page). */
    short offsetOf(short page) {
        return (short) ((short) (page % pagesPerSegment) * pageSize);
    }

    /** The dirty bitmap, bit (7 - page % 8) of byte page / 8. */
    byte[] dirtyBits() {
        return dirty;
    }

    boolean isDirty(short page) {
        return (dirty[(short) (page >> 3)] & (byte) (0x80 >> (page & 7))) != 0;
    }

    /** Sets the dirty bit of page (through Tx: call inside a transaction). */
    void markDirty(short page) {
        short i = (short) (page >> 3);
        byte b = (byte) (dirty[i] | (byte) (0x80 >> (page & 7)));
        if (b != dirty[i]) {
            Tx.setByte(dirty, i, b);
        }
    }

    short dirtyCount() {
        short n = 0;
        for (short p = 0; p < pageCount; p++) {
            if (isDirty(p)) {
                n++;
            }
        }
        return n;
    }

    /** Clears every dirty bit (through Tx). */
    void clearDirty() {
        Tx.fill(dirty, (short) 0, (short) dirty.length, (byte) 0);
    }

    // ---------------------------------------------------------------- region table

    /** The raw region table (MAX_REGIONS entries of ENTRY bytes). Do not write except through Tx. */
    byte[] regionTable() {
        return regions;
    }

    short regionCount() {
        short n = 0;
        for (short e = 0; e < (short) regions.length; e += ENTRY) {
            if (regions[e] != 0) {
                n++;
            }
        }
        return n;
    }

    /** Offset of the entry of region id in the table, or -1. */
    short find(byte id) {
        if (id == 0) {
            return -1;
        }
        for (short e = 0; e < (short) regions.length; e += ENTRY) {
            if (regions[e] == id) {
                return e;
            }
        }
        return -1;
    }

    /** Offset of region id's entry; 6A88 when there is none. */
    short require(byte id) {
        short e = find(id);
        if (e < 0) {
            ISOException.throwIt(Proto.SW_DATA_NOT_FOUND);
        }
        return e;
    }

    byte flags(short entry) {
        return regions[(short) (entry + E_FLAGS)];
    }

    void setFlags(short entry, byte flags) {
        Tx.setByte(regions, (short) (entry + E_FLAGS), flags);
    }

    short first(short entry) {
        return Util.getShort(regions, (short) (entry + E_FIRST));
    }

    short pages(short entry) {
        return Util.getShort(regions, (short) (entry + E_COUNT));
    }

    /** Region bytes (pages * pageSize; at most 32767 since the table refuses more). */
    short size(short entry) {
        return (short) (pages(entry) * pageSize);
    }

    /** The entry of the region that holds page, or -1. */
    short regionOfPage(short page) {
        for (short e = 0; e < (short) regions.length; e += ENTRY) {
            if (regions[e] != 0 && page >= first(e) && page < (short) (first(e) + pages(e))) {
                return e;
            }
        }
        return -1;
    }

    /** DEFINE_REGION: id, flags, first page, page count at in[off..off+6). */
    void define(byte[] in, short off) {
        byte id = in[off];
        byte flags = in[(short) (off + 1)];
        short firstPage = Util.getShort(in, (short) (off + 2));
        short count = Util.getShort(in, (short) (off + 4));
        if (id == 0 || id == (byte) 0xFF || find(id) >= 0 || (flags & (byte) ~DEFINABLE_FLAGS) != 0) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        if (firstPage < 0 || count < 1 || firstPage >= pageCount || count > (short) (pageCount - firstPage)
                || count > (short) (32767 / pageSize)) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        short free = -1;
        for (short e = 0; e < (short) regions.length; e += ENTRY) {
            if (regions[e] == 0) {
                if (free < 0) {
                    free = e;
                }
                continue;
            }
            short f = first(e);
            short end = (short) (f + pages(e));
            if (firstPage < end && f < (short) (firstPage + count)) {
                ISOException.throwIt(Proto.SW_WRONG_DATA);
            }
        }
        if (free < 0) {
            ISOException.throwIt(Proto.SW_NOT_ENOUGH_MEMORY);
        }
        Tx.begin();
        Tx.copy(in, off, regions, free, ENTRY);
        Tx.commit();
    }

    /** Replaces the whole region table with src (state flags dropped), through Tx. */
    void adoptTable(byte[] src, short off) {
        Tx.copy(src, off, regions, (short) 0, (short) regions.length);
        for (short e = 0; e < (short) regions.length; e += ENTRY) {
            byte f = (byte) (regions[(short) (e + E_FLAGS)] & DEFINABLE_FLAGS);
            if (f != regions[(short) (e + E_FLAGS)]) {
                Tx.setByte(regions, (short) (e + E_FLAGS), f);
            }
        }
    }

    /** Whether the table at src equals ours, ignoring the state flags. */
    boolean sameLayout(byte[] src, short off) {
        for (short e = 0; e < (short) regions.length; e += ENTRY) {
            short o = (short) (off + e);
            if (src[o] != regions[e]
                    || (byte) (src[(short) (o + E_FLAGS)] & DEFINABLE_FLAGS)
                        != (byte) (regions[(short) (e + E_FLAGS)] & DEFINABLE_FLAGS)
                    || Util.arrayCompare(src, (short) (o + E_FIRST), regions, (short) (e + E_FIRST), (short) 4) != 0) {
                return false;
            }
        }
        return true;
    }

    /** Writes the table without state flags' TOUCHED bit meaning anything: ENTRY bytes per defined region. */
    short listRegions(byte[] out, short off) {
        for (short e = 0; e < (short) regions.length; e += ENTRY) {
            if (regions[e] != 0) {
                off = Util.arrayCopyNonAtomic(regions, e, out, off, ENTRY);
            }
        }
        return off;
    }

    // ---------------------------------------------------------------- region data

    /**
     * Checks that region entry may be used now (not touched by an unfinished restore) and zeroes a value
     * region that a restore left with a pending zeroing (the patent's claim 7: before its first use).
     * The zeroing is one transaction per page (a region is far larger than a card's commit buffer) and the
     * flag clears in a last one: zeroing is idempotent, so a power loss on the way leaves the flag set and
     * the next use zeroes the region again from its first page.
     */
    void prepareUse(short entry) {
        byte f = flags(entry);
        if ((f & Proto.REGION_FLAG_TOUCHED) != 0) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
        }
        if ((f & Proto.REGION_FLAG_ZERO_PENDING) != 0) {
            short p = first(entry);
            short end = (short) (p + pages(entry));
            for (; p < end; p++) {
                Tx.begin();
                Tx.fill(segmentOf(p), offsetOf(p), pageSize, (byte) 0);
                markDirty(p);
                Tx.commit();
            }
            Tx.begin();
            setFlags(entry, (byte) (f & (byte) ~Proto.REGION_FLAG_ZERO_PENDING));
            Faults.point();
            Tx.commit();
        }
    }

    private void checkRange(short entry, short off, short len) {
        if (off < 0 || len < 0 || off > size(entry) || len > (short) (size(entry) - off)) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
    }

    /**
     * Writes src into the region at off, marking the pages dirty, in one transaction: at most maxWrite()
     * bytes (6700 beyond), one copy per segment the write touches (pages of a segment are contiguous).
     */
    void write(short entry, short off, byte[] src, short srcOff, short len) {
        checkRange(entry, off, len);
        if (len > maxWrite) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        Tx.begin();
        short page = (short) (first(entry) + off / pageSize);
        short in = (short) (off % pageSize);
        while (len > 0) {
            // bytes from here to the end of this page's segment
            short room = (short) ((short) (pagesPerSegment - (short) (page % pagesPerSegment)) * pageSize - in);
            short n = room < len ? room : len;
            short last = (short) (page + (short) ((short) (in + n - 1) / pageSize));
            for (short p = page; p <= last; p++) {
                markDirty(p);
            }
            Tx.copy(src, srcOff, segmentOf(page), (short) (offsetOf(page) + in), n);
            srcOff += n;
            len -= n;
            page = (short) (last + 1);
            in = 0;
        }
        Tx.commit();
    }

    /** Copies len region bytes from off into out; returns the end offset in out. */
    short read(short entry, short off, short len, byte[] out, short outOff) {
        checkRange(entry, off, len);
        short page = (short) (first(entry) + off / pageSize);
        short in = (short) (off % pageSize);
        while (len > 0) {
            short n = (short) (pageSize - in);
            if (n > len) {
                n = len;
            }
            outOff = Util.arrayCopyNonAtomic(segmentOf(page), (short) (offsetOf(page) + in), out, outOff, n);
            len -= n;
            page++;
            in = 0;
        }
        return outOff;
    }
}
