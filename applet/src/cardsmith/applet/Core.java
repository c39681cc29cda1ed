package cardsmith.applet;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;

/**
 * Capability "core": GET INFO (every capability's part, this one's first), ECHO and CLOSE PERSONALISATION.
 * The lifecycle and the card id it reports are the applet's (CardsmithApplet, the dispatcher).
 */
final class Core implements Capability {
    private static final short CAPABILITIES = (short) (Proto.CAP_EXTENDED_LENGTH | Proto.CAP_CHAINING
            | Proto.CAP_BACKUP | Proto.CAP_SELF_ISSUANCE | Proto.CAP_DUPLICATION | Proto.CAP_IDENTITY
            | Proto.CAP_REMOTE_UPDATE);

    private final CardsmithApplet applet;
    /** Scratch for getAvailableMemory's 32-bit answer (high short, low short). */
    private final short[] mem;

    Core(CardsmithApplet applet) {
        this.applet = applet;
        mem = JCSystem.makeTransientShortArray((short) 2, JCSystem.CLEAR_ON_DESELECT);
    }

    public short dispatch(byte ins, byte p1, byte p2, byte[] in, short inOff, short inLen) {
        switch (ins) {
            case Proto.INS_GET_INFO:
                CardsmithApplet.requireP1P2(p1, p2);
                return applet.info(applet.responseBuffer());
            case Proto.INS_ECHO:
                return echo(p1, p2, in, inOff, inLen);
            case Proto.INS_CLOSE_PERSONALISATION:
                CardsmithApplet.requireP1P2(p1, p2);
                applet.issue();
                return 0;
            default:
                ISOException.throwIt(Proto.SW_INS_NOT_SUPPORTED); // GET RESPONSE inside a chain or a bundle
                return 0;
        }
    }

    /**
     * Core keeps nothing personalisation writes: CLEAR runs while INSTALLED, the card id stays. The origin
     * (blank or not) is reset by clearAll once every capability is clear.
     */
    public void clear() {
    }

    /** Core has no session. */
    public boolean busy() {
        return false;
    }

    /** Version, card id, lifecycle, capabilities, free memory, algorithms and buffer sizes. */
    public short putInfo(byte[] out, short off) {
        off = Tlv.putHeader(out, off, Proto.TAG_INFO_VERSION, (short) 3);
        out[off++] = Proto.VERSION_MAJOR;
        out[off++] = Proto.VERSION_MINOR;
        out[off++] = Proto.VERSION_PATCH;
        off = Tlv.putHeader(out, off, Proto.TAG_INFO_CARD_ID, Proto.CARD_ID_LENGTH);
        off = Util.arrayCopyNonAtomic(applet.cardId(), (short) 0, out, off, Proto.CARD_ID_LENGTH);
        off = Tlv.putHeader(out, off, Proto.TAG_INFO_LIFECYCLE, (short) 1);
        out[off++] = applet.lifecycle();
        off = Tlv.putShort(out, off, Proto.TAG_INFO_CAPABILITIES, CAPABILITIES);
        off = Tlv.putHeader(out, off, Proto.TAG_INFO_PERSISTENT_FREE, (short) 4);
        // Pre-filled with the capped 16-bit answer, which stays if the 32-bit call does nothing
        // (jCardSim implements it as a no-op); a real card overwrites both shorts.
        mem[0] = 0;
        mem[1] = JCSystem.getAvailableMemory(JCSystem.MEMORY_TYPE_PERSISTENT);
        JCSystem.getAvailableMemory(mem, (short) 0, JCSystem.MEMORY_TYPE_PERSISTENT);
        off = Util.setShort(out, off, mem[0]);
        off = Util.setShort(out, off, mem[1]);
        off = Tlv.putShort(out, off, Proto.TAG_INFO_TRANSIENT_RESET_FREE,
                JCSystem.getAvailableMemory(JCSystem.MEMORY_TYPE_TRANSIENT_RESET));
        off = Tlv.putShort(out, off, Proto.TAG_INFO_TRANSIENT_DESELECT_FREE,
                JCSystem.getAvailableMemory(JCSystem.MEMORY_TYPE_TRANSIENT_DESELECT));
        off = Tlv.putShort(out, off, Proto.TAG_INFO_ALGORITHMS, applet.algorithms().available());
        off = Tlv.putHeader(out, off, Proto.TAG_INFO_BUFFERS, (short) 4);
        off = Util.setShort(out, off, Proto.COMMAND_BUFFER_SIZE);
        off = Util.setShort(out, off, Proto.RESPONSE_BUFFER_SIZE);
        off = Tlv.putHeader(out, off, Proto.TAG_INFO_COMMIT, (short) 4);
        off = Util.setShort(out, off, Tx.maxCommitCapacity());
        off = Util.setShort(out, off, applet.dataArea().maxWrite());
        return off;
    }

    private short echo(byte p1, byte p2, byte[] in, short inOff, short inLen) {
        byte[] rsp = applet.responseBuffer();
        if (p2 != 0) {
            ISOException.throwIt(Proto.SW_INCORRECT_P1P2);
        }
        if (p1 == 0) {
            if (inLen > Proto.RESPONSE_BUFFER_SIZE) {
                ISOException.throwIt(Proto.SW_WRONG_LENGTH); // a stored bundle's inner ECHO may be longer
            }
            Util.arrayCopyNonAtomic(in, inOff, rsp, (short) 0, inLen);
            return inLen;
        }
        if (p1 != 1) {
            ISOException.throwIt(Proto.SW_INCORRECT_P1P2);
        }
        if (inLen != 2) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        short n = Util.getShort(in, inOff);
        if (n < 0 || n > Proto.RESPONSE_BUFFER_SIZE) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        for (short i = 0; i < n; i++) {
            rsp[i] = (byte) i;
        }
        return n;
    }
}
