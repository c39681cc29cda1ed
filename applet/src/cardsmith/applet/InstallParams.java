package cardsmith.applet;

import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.Util;

/** Reads the applet's install parameters: a flat list of tag(1) length(1) value TLVs. Malformed: 6A80. */
final class InstallParams {
    private InstallParams() {
    }

    /**
     * Offset of the value of tag in buf[off..off+len), or -1 when the tag is absent; its length is the byte
     * before it, {@link #length}. A TLV running past the end is 6A80.
     */
    static short find(byte[] buf, short off, short len, byte tag) {
        short end = (short) (off + len);
        while (off < end) {
            if ((short) (off + 2) > end) {
                ISOException.throwIt(ISO7816.SW_WRONG_DATA);
            }
            byte t = buf[off];
            short l = (short) (buf[(short) (off + 1)] & 0xFF);
            off += 2;
            if ((short) (off + l) > end) {
                ISOException.throwIt(ISO7816.SW_WRONG_DATA);
            }
            if (t == tag) {
                return off;
            }
            off += l;
        }
        return -1;
    }

    /** Length of the value found at valueOff by {@link #find}. */
    static short length(byte[] buf, short valueOff) {
        return (short) (buf[(short) (valueOff - 1)] & 0xFF);
    }

    /** The 2-byte value of tag, or fallback when the tag is absent. Another length: 6A80. */
    static short findShort(byte[] buf, short off, short len, byte tag, short fallback) {
        short at = find(buf, off, len, tag);
        if (at < 0) {
            return fallback;
        }
        if (length(buf, at) != 2) {
            ISOException.throwIt(ISO7816.SW_WRONG_DATA);
        }
        return Util.getShort(buf, at);
    }
}
