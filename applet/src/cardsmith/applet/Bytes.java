package cardsmith.applet;

/** Byte-array helpers shared by every capability. */
final class Bytes {
    private Bytes() {
    }

    /**
     * Whether a[aOff..+len) equals b[bOff..+len), in time independent of where they differ (the byte
     * differences are ORed, no early exit). For every MAC, tag, receipt, key and secret comparison;
     * Util.arrayCompare (which stops at the first difference) is for ids and magic numbers only.
     */
    static boolean equalsConstantTime(byte[] a, short aOff, byte[] b, short bOff, short len) {
        byte diff = 0;
        for (short i = 0; i < len; i++) {
            diff |= (byte) (a[(short) (aOff + i)] ^ b[(short) (bOff + i)]);
        }
        return diff == 0;
    }
}
