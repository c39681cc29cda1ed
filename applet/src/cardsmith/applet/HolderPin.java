package cardsmith.applet;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;

/**
 * The holder PIN of the whole applet, part of capability "duplication" (Duplication routes VERIFY, CHANGE
 * REFERENCE DATA, PUT_PIN and RESET RETRY COUNTER here and clears it with the rest of the capability).
 *
 * <p>The rules (docs/security.md, "The holder PIN"): PUT_PIN sets it once, while none is set; afterwards
 * only CHANGE REFERENCE DATA with the old PIN changes it, or RESET RETRY COUNTER from a session with
 * permission pin_reset (the dispatcher checks that). One persistent try counter, decremented before every
 * comparison, restored only by a correct PIN or by RESET RETRY COUNTER: CLEAR and PUT_PIN leave it as it
 * is, so a blocked PIN stays blocked through a CLEAR. The counter is written with a non-atomic write
 * (never part of a transaction, as OwnerPIN's), so neither a power loss nor a rolled-back bundle unit gives
 * a try back. The verified state is CLEAR_ON_DESELECT: it ends at reset and at deselect.
 * Other capabilities ask {@link #verified()} (the applet exposes this object as holderPin()).
 */
final class HolderPin {
    /** Persistent: [ST_SET] 1 once a PIN is set, [ST_LEN] its length, [ST_TRIES] tries left. */
    private final byte[] state;
    private static final short ST_SET = 0;
    private static final short ST_LEN = 1;
    private static final short ST_TRIES = 2;
    /** Persistent: the PIN, ST_LEN bytes (the rest zero). Written through Tx. */
    private final byte[] value;
    /** Transient: [0] = 1 while verified in this selection. */
    private final byte[] session;

    HolderPin() {
        state = new byte[3];
        state[ST_TRIES] = Proto.PIN_TRY_LIMIT;
        value = new byte[Proto.PIN_MAX_LENGTH];
        session = JCSystem.makeTransientByteArray((short) 1, JCSystem.CLEAR_ON_DESELECT);
    }

    /** Whether the holder PIN was verified in this session (since the last reset or select). */
    boolean verified() {
        return session[0] == 1 && isSet();
    }

    /** The verified state ends now (Trust.end: a session ended, so may a PIN verified inside it). */
    void forget() {
        session[0] = 0;
    }

    boolean isSet() {
        return state[ST_SET] == 1;
    }

    byte triesLeft() {
        return state[ST_TRIES];
    }

    short dispatch(byte ins, byte p1, byte p2, byte[] in, short inOff, short inLen) {
        switch (ins) {
            case Proto.INS_PUT_PIN:
                CardsmithApplet.requireP1P2(p1, p2);
                put(in, inOff, inLen);
                return 0;
            case Proto.INS_VERIFY:
                requireReference((byte) 0, p1, p2);
                verify(in, inOff, inLen);
                return 0;
            case Proto.INS_CHANGE_REFERENCE_DATA:
                requireReference((byte) 0, p1, p2);
                change(in, inOff, inLen);
                return 0;
            case Proto.INS_RESET_RETRY_COUNTER:
                requireReference((byte) 2, p1, p2);
                reset(in, inOff, inLen);
                return 0;
            default:
                ISOException.throwIt(Proto.SW_INS_NOT_SUPPORTED);
                return 0;
        }
    }

    private static void requireReference(byte wantP1, byte p1, byte p2) {
        if (p1 != wantP1 || p2 != Proto.PIN_REFERENCE) {
            ISOException.throwIt(Proto.SW_INCORRECT_P1P2);
        }
    }

    private static void checkLength(short len) {
        if (len < Proto.PIN_MIN_LENGTH || len > Proto.PIN_MAX_LENGTH) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
    }

    /** The PIN value and length (and, for a reset, the set flag and a full counter) in one transaction. */
    private void store(byte[] in, short off, short len, boolean fullCounter) {
        Tx.begin();
        Tx.fill(value, (short) 0, Proto.PIN_MAX_LENGTH, (byte) 0);
        Tx.copy(in, off, value, (short) 0, len);
        Tx.setByte(state, ST_LEN, (byte) len);
        Tx.setByte(state, ST_SET, (byte) 1);
        if (fullCounter) {
            Tx.setByte(state, ST_TRIES, Proto.PIN_TRY_LIMIT);
        }
        Faults.point();
        Tx.commit();
        Faults.point(); // stored, the answer lost: the new PIN works, the counter as the commit left it
    }

    /** PUT_PIN: only while no PIN is set, and never onto a blocked counter (CLEAR does not unblock). */
    private void put(byte[] in, short off, short len) {
        if (isSet()) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED); // set once: CHANGE it with the old PIN
        }
        if (state[ST_TRIES] == 0) {
            ISOException.throwIt(Proto.SW_AUTH_METHOD_BLOCKED);
        }
        checkLength(len);
        store(in, off, len, false);
        session[0] = 0;
    }

    /** RESET RETRY COUNTER (the dispatcher checked permission pin_reset): new PIN, full counter. */
    private void reset(byte[] in, short off, short len) {
        checkLength(len);
        store(in, off, len, true);
        session[0] = 0;
    }

    /**
     * CLEAR_BUNDLE: no PIN, as after install, in one transaction (the value zeroed, so the old PIN can
     * neither be verified nor recovered). The try counter stays: only a correct PIN or an authorised reset
     * restores it, so CLEAR is no way to get more guesses nor to unblock.
     */
    void clear() {
        Tx.begin();
        Tx.setByte(state, ST_SET, (byte) 0);
        Tx.setByte(state, ST_LEN, (byte) 0);
        Tx.fill(value, (short) 0, Proto.PIN_MAX_LENGTH, (byte) 0);
        Tx.commit();
        session[0] = 0;
    }

    /** The counter, written outside any transaction (a rollback must not give a try back). */
    private void setTries(byte n) {
        Util.arrayFillNonAtomic(state, ST_TRIES, (short) 1, n);
    }

    /**
     * The identity capability's PIN checks (AUTHENTICATE_CARD P1=01, GENERATE_USAGE_RECORD): the same
     * check, the same counter as VERIFY, so the holder has one PIN (docs/identity.md).
     */
    void checkCandidate(byte[] in, short off, short len) {
        check(in, off, len);
    }

    /**
     * REGISTER_PIN (identity, after the set number and the terminal's signature): the PIN is set, replacing
     * an old or blocked one, with a full counter, in one transaction (old or new after a pulled card).
     */
    void register(byte[] in, short off, short len) {
        checkLength(len);
        store(in, off, len, true);
        session[0] = 0;
    }

    /** Checks a candidate, decrementing the counter first; on failure throws 63Cx or 6983. */
    private void check(byte[] in, short off, short len) {
        if (!isSet()) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
        }
        byte left = state[ST_TRIES];
        if (left == 0) {
            ISOException.throwIt(Proto.SW_AUTH_METHOD_BLOCKED);
        }
        if (len < Proto.PIN_MIN_LENGTH || len > Proto.PIN_MAX_LENGTH) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH); // malformed: no try spent
        }
        session[0] = 0;
        left--;
        setTries(left);
        Faults.point(); // a power loss here has spent the try
        boolean ok = len == state[ST_LEN] & Bytes.equalsConstantTime(in, off, value, (short) 0, len);
        if (!ok) {
            ISOException.throwIt(left == 0 ? Proto.SW_AUTH_METHOD_BLOCKED : (short) (Proto.SW_VERIFY_FAILED | left));
        }
        setTries(Proto.PIN_TRY_LIMIT);
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
            byte left = state[ST_TRIES];
            ISOException.throwIt(left == 0 ? Proto.SW_AUTH_METHOD_BLOCKED : (short) (Proto.SW_VERIFY_FAILED | left));
        }
        check(in, off, len);
    }

    /** CHANGE REFERENCE DATA: the old PIN checked like VERIFY (same counter), then the new one stored. */
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
        store(in, (short) (off + 1 + oldLen), newLen, false);
        session[0] = 1; // stays verified
    }
}
