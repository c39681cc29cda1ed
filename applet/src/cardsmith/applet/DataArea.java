package cardsmith.applet;

import javacard.framework.ISO7816;
import javacard.framework.ISOException;

/**
 * The persistent data area: pageCount pages of pageSize bytes, held in segments of at most
 * SEGMENT_BYTES so that areas beyond a Java Card array's 32767-byte limit work. Pages never cross a
 * segment. A dirty bit per page lives outside the area (DESIGN.md section 6).
 */
final class DataArea {
    static final short SEGMENT_BYTES = 8192;

    private final short pageSize;
    private final short pageCount;
    private final short pagesPerSegment;
    private final Object[] segments;
    private final byte[] dirty;

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
}
