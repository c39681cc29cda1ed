package cardsmith.applet;

import javacard.framework.Util;

/** Minimal BER-TLV writing for one-byte tags and lengths below 256. */
final class Tlv {
    private Tlv() {
    }

    /** Writes tag and length (1 or 2 length bytes); returns the offset of the value. */
    static short putHeader(byte[] buf, short off, byte tag, short len) {
        buf[off++] = tag;
        if (len > 127) {
            buf[off++] = (byte) 0x81;
        }
        buf[off++] = (byte) len;
        return off;
    }

    static short putShort(byte[] buf, short off, byte tag, short value) {
        off = putHeader(buf, off, tag, (short) 2);
        return Util.setShort(buf, off, value);
    }
}
