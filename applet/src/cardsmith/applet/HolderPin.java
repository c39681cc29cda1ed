package cardsmith.applet;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.OwnerPIN;
import javacard.framework.Util;

/**
 * The holder PIN of the whole applet, part of capability "duplication" (Duplication routes VERIFY, CHANGE
 * REFERENCE DATA and PUT_PIN here and clears it with the rest of the capability): set at
 * personalisation (PUT_PIN, lifecycle INSTALLED, checked by the dispatcher), checked by
 * VERIFY against a persistent try counter, changed with CHANGE REFERENCE DATA. OwnerPIN decrements the
 * try counter before it compares, so pulling the card during a check never gives a free guess. The
 * verified state is kept in CLEAR_ON_DESELECT memory too, so it ends at reset and at deselect.
 * Other capabilities ask {@link #verified()} (the applet exposes this object as holderPin()).
 */
final class HolderPin {
    private final CardsmithApplet applet;
    private final OwnerPIN pin;
    /** Persistent: [0] = 1 once a PIN was set. Written through Tx. */
    private final byte[] state;
    /** Transient: [0] = 1 while verified in this selection. */
    private final byte[] session;

    HolderPin(CardsmithApplet applet) {
        this.applet = applet;
        pin = new OwnerPIN(Proto.PIN_TRY_LIMIT, Proto.PIN_MAX_LENGTH);
        state = new byte[1];
        session = JCSystem.makeTransientByteArray((short) 1, JCSystem.CLEAR_ON_DESELECT);
    }

    /** Whether the holder PIN was verified in this session (since the last reset or select). */
    boolean verified() {
        return session[0] == 1 && pin.isValidated();
    }

    /** Refuses with 6982 unless the PIN was verified in this session. */
    void require() {
        if (!verified()) {
            ISOException.throwIt(Proto.SW_SECURITY_STATUS_NOT_SATISFIED);
        }
    }

    boolean isSet() {
        return state[0] == 1;
    }

    byte triesLeft() {
        return pin.getTriesRemaining();
    }

    short dispatch(byte ins, byte p1, byte p2, byte[] in, short inOff, short inLen) {
        switch (ins) {
            case Proto.INS_PUT_PIN:
                CardsmithApplet.requireP1P2(p1, p2);
                put(in, inOff, inLen);
                return 0;
            case Proto.INS_VERIFY:
                requireReference(p1, p2);
                verify(in, inOff, inLen);
                return 0;
            case Proto.INS_CHANGE_REFERENCE_DATA:
                requireReference(p1, p2);
                change(in, inOff, inLen);
                return 0;
            default:
                ISOException.throwIt(Proto.SW_INS_NOT_SUPPORTED);
                return 0;
        }
    }

    private static void requireReference(byte p1, byte p2) {
        if (p1 != 0 || p2 != Proto.PIN_REFERENCE) {
            ISOException.throwIt(Proto.SW_INCORRECT_P1P2);
        }
    }

    private static void checkLength(short len) {
        if (len < Proto.PIN_MIN_LENGTH || len > Proto.PIN_MAX_LENGTH) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
    }

    private void put(byte[] in, short off, short len) {
        checkLength(len);
        Tx.begin();
        pin.update(in, off, (byte) len);
        Tx.setByte(state, (short) 0, (byte) 1);
        Tx.commit();
        session[0] = 0;
    }

    /**
     * CLEAR_BUNDLE: no PIN, as after install. "Not set" is committed together with a PIN value of zeros
     * (OwnerPIN.update also restores the try counter and drops the validated state), so the old PIN can
     * neither be verified nor recovered; PUT_PIN may set the next holder's. The zeros come from the response
     * buffer, which CLEAR does not answer with.
     */
    void clear() {
        byte[] zeros = applet.responseBuffer();
        Util.arrayFillNonAtomic(zeros, (short) 0, Proto.PIN_MAX_LENGTH, (byte) 0);
        Tx.begin();
        Tx.setByte(state, (short) 0, (byte) 0);
        pin.update(zeros, (short) 0, Proto.PIN_MAX_LENGTH);
        Tx.commit();
        session[0] = 0;
    }

    /** Checks a candidate; on failure throws 63Cx or 6983. */
    private void check(byte[] in, short off, short len) {
        if (!isSet()) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
        }
        if (pin.getTriesRemaining() == 0) {
            ISOException.throwIt(Proto.SW_AUTH_METHOD_BLOCKED);
        }
        if (len < Proto.PIN_MIN_LENGTH || len > Proto.PIN_MAX_LENGTH || !pin.check(in, off, (byte) len)) {
            if (len >= Proto.PIN_MIN_LENGTH && len <= Proto.PIN_MAX_LENGTH) {
                session[0] = 0;
                byte left = pin.getTriesRemaining();
                ISOException.throwIt(left == 0 ? Proto.SW_AUTH_METHOD_BLOCKED
                        : (short) (Proto.SW_VERIFY_FAILED | left));
            }
            ISOException.throwIt(Proto.SW_WRONG_LENGTH); // malformed: no try spent
        }
        session[0] = 1;
    }

    private void verify(byte[] in, short off, short len) {
        if (len == 0) {
            if (!isSet()) {
                ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
            }
            if (verified()) {
                return;
            }
            byte left = pin.getTriesRemaining();
            ISOException.throwIt(left == 0 ? Proto.SW_AUTH_METHOD_BLOCKED : (short) (Proto.SW_VERIFY_FAILED | left));
        }
        check(in, off, len);
    }

    private void change(byte[] in, short off, short len) {
        if (len < 1) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        short oldLen = (short) (in[off] & 0xFF);
        short newLen = (short) (len - 1 - oldLen);
        if (newLen < 0) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        checkLength(newLen);
        check(in, (short) (off + 1), oldLen);
        pin.update(in, (short) (off + 1 + oldLen), (byte) newLen);
        pin.check(in, (short) (off + 1 + oldLen), (byte) newLen); // stays verified
        session[0] = 1;
    }
}
