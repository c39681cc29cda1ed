package cardsmith.applet;

import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.Util;

/** Reads the applet's install parameters: a flat list of tag(1) length(1) value TLVs. */
final class InstallParams {
    private InstallParams() {
    }

    /** The 2-byte value of tag, or fallback when the tag is absent. Malformed data: 6A80. */
    static short findShort(byte[] buf, short off, short len, byte tag, short fallback) {
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
                if (l != 2) {
                    ISOException.throwIt(ISO7816.SW_WRONG_DATA);
                }
                return Util.getShort(buf, off);
            }
            off += l;
        }
        return fallback;
    }
}
