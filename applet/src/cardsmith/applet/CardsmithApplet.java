package cardsmith.applet;

import javacard.framework.APDU;
import javacard.framework.Applet;
import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.SystemException;
import javacard.framework.TransactionException;
import javacard.framework.Util;
import javacard.security.CryptoException;
import javacardx.apdu.ExtendedLength;

/**
 * The cardsmith applet: transport plumbing (command chaining, GET RESPONSE, extended length), the
 * dispatcher that every capability plugs into, and capability "core" (GET INFO, ECHO,
 * CLOSE_PERSONALISATION, the lifecycle state).
 *
 * <p>The capabilities are one array, {@link #caps}, indexed by Proto.CAPABILITY_* and made at install.
 * Every command, whether it came from the terminal or from a stored bundle, goes through {@link #execute}:
 * it looks the INS up in the generated table Proto.ROUTES (unknown: 6D00), checks the lifecycle condition
 * (6985) and calls the capability's dispatch. The CLA (6E00) is checked from the same table in
 * {@link #process}, before any command data is received. Handlers read their input from a buffer, write
 * their output into {@link #rsp} and return its length, and refuse with an ISOException.
 */
public final class CardsmithApplet extends Applet implements ExtendedLength {

    // io[] slots (transient, cleared on deselect)
    private static final short IO_CHAIN_LEN = 0; // bytes of a command chain received so far
    private static final short IO_RSP_LEN = 1; // bytes of response still pending for GET RESPONSE
    private static final short IO_RSP_OFF = 2; // where the pending response starts in rsp
    private static final short IO_CHAIN_HDR = 3; // INS<<8|P1 of the chain in progress
    private static final short IO_CHAIN_P2 = 4; // P2 of the chain in progress, -1 when none
    private static final short IO_SLOTS = 5;

    private final byte[] cardId;
    /** Persistent state bytes, written through Tx: STATE_LIFECYCLE, STATE_ORIGIN, STATE_SOURCE. */
    private final byte[] state;
    private static final short STATE_LIFECYCLE = 0;
    /** What the card holds came from: ORIGIN_BLANK, ORIGIN_RESTORED (from STATE_SOURCE) or ORIGIN_WRITTEN. */
    private static final short STATE_ORIGIN = 1;
    /** The card id whose backups a blank card was restored from (ORIGIN_RESTORED). */
    private static final short STATE_SOURCE = 2;
    private static final short STATE_SIZE = (short) (STATE_SOURCE + Proto.CARD_ID_LENGTH);
    /** Nothing written since install or the last complete CLEAR. */
    private static final byte ORIGIN_BLANK = 0;
    /** Only restores of one other card's backups (STATE_SOURCE) were written since. */
    private static final byte ORIGIN_RESTORED = 1;
    /** Something else was written: the card holds someone's data. */
    private static final byte ORIGIN_WRITTEN = 2;
    /**
     * Transient (CLEAR_ON_DESELECT, so it ends with deselect, reset and power loss): [0] the permission mask
     * of the authenticated session (bit Proto.PERM_*), 0 when none is open. Only Trust sets it, from the
     * certificate of the session it opens, and clears it when the session ends.
     */
    private final short[] session;
    private final DataArea dataArea;
    private final Algorithms algorithms;
    private final HolderPin holderPin;
    /** The trust capability: the transport layer unwraps and wraps secure messaging through it. */
    private final Trust trust;
    /** The identity capability: the dispatcher asks it whether the card is invalid. */
    private final Identity identity;
    /** Every capability, indexed by Proto.CAPABILITY_*. */
    private final Capability[] caps;

    /** Reassembled command data (chained or extended). */
    private final byte[] cmd;
    /** Response data produced by the last command. */
    private final byte[] rsp;
    private final short[] io;

    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new CardsmithApplet(bArray, bOffset, bLength).register(bArray, (short) (bOffset + 1), bArray[bOffset]);
    }

    /** bArray holds the GlobalPlatform install data: [Li AID][Lc control][La applet parameters]. */
    private CardsmithApplet(byte[] bArray, short bOffset, byte bLength) {
        short off = (short) (bOffset + 1 + bArray[bOffset]); // skip instance AID
        off = (short) (off + 1 + bArray[off]); // skip control info
        short paramLen = (short) (bArray[off] & 0xFF);
        off++;
        short pageSize = InstallParams.findShort(bArray, off, paramLen, Proto.TAG_INSTALL_PAGE_SIZE,
                Proto.DEFAULT_PAGE_SIZE);
        short pageCount = InstallParams.findShort(bArray, off, paramLen, Proto.TAG_INSTALL_PAGE_COUNT,
                Proto.DEFAULT_PAGE_COUNT);

        // room beyond the protocol's buffers for what secure messaging adds (counter, MAC, padding)
        cmd = JCSystem.makeTransientByteArray((short) (Proto.COMMAND_BUFFER_SIZE + SecureMessaging.MAX_OVERHEAD),
                JCSystem.CLEAR_ON_DESELECT);
        rsp = JCSystem.makeTransientByteArray((short) (Proto.RESPONSE_BUFFER_SIZE + SecureMessaging.MAX_OVERHEAD),
                JCSystem.CLEAR_ON_DESELECT);
        io = JCSystem.makeTransientShortArray(IO_SLOTS, JCSystem.CLEAR_ON_DESELECT);
        session = JCSystem.makeTransientShortArray((short) 1, JCSystem.CLEAR_ON_DESELECT);

        dataArea = new DataArea(pageSize, pageCount);
        algorithms = new Algorithms();
        cardId = new byte[Proto.CARD_ID_LENGTH];
        algorithms.random().generateData(cardId, (short) 0, Proto.CARD_ID_LENGTH);
        state = new byte[STATE_SIZE];
        state[STATE_LIFECYCLE] = Proto.LIFECYCLE_INSTALLED;
        state[STATE_ORIGIN] = ORIGIN_BLANK;
        holderPin = new HolderPin();
        caps = new Capability[Proto.CAPABILITY_COUNT];
        caps[Proto.CAPABILITY_CORE] = new Core(this);
        caps[Proto.CAPABILITY_TEST] = new FaultCommand();
        Backup backup = new Backup(this);
        caps[Proto.CAPABILITY_BACKUP] = backup;
        caps[Proto.CAPABILITY_DATA] = new DataAccess(this, backup);
        caps[Proto.CAPABILITY_DUPLICATION] = new Duplication(this, holderPin);
        short bundleSize = InstallParams.findShort(bArray, off, paramLen, Proto.TAG_INSTALL_BUNDLE_SIZE,
                Proto.DEFAULT_BUNDLE_SIZE);
        caps[Proto.CAPABILITY_ISSUANCE] = new Bundle(this, bundleSize, bArray, off, paramLen);
        trust = new Trust(this);
        caps[Proto.CAPABILITY_TRUST] = trust;
        identity = new Identity(this, trust);
        caps[Proto.CAPABILITY_IDENTITY] = identity;
        caps[Proto.CAPABILITY_UPDATE] = new RemoteUpdate(this, trust, bArray, off, paramLen);
    }

    /**
     * Every selection, explicit (SELECT), implicit (the card's default applet at reset) or on a logical
     * channel (MANAGE CHANNEL OPEN): no chain, no pending response. The CLEAR_ON_DESELECT io slots read 0
     * after a deselect, which would otherwise say "a chain with P2 00 is in progress" (6883).
     */
    public boolean select() {
        resetIo();
        trust.wipeStaleEphemeral();
        return true;
    }

    public void deselect() {
        resetIo();
    }

    private void resetIo() {
        io[IO_CHAIN_LEN] = 0;
        io[IO_RSP_LEN] = 0;
        io[IO_RSP_OFF] = 0;
        io[IO_CHAIN_P2] = -1;
    }

    public void process(APDU apdu) {
        if (selectingApplet()) {
            resetIo();
            return;
        }
        byte[] buf = apdu.getBuffer();
        byte claByte = buf[ISO7816.OFFSET_CLA];
        byte ins = buf[ISO7816.OFFSET_INS];
        // ISO 7816-4 5.4.1: b7 set means a further logical channel (4-19): then b6 is the secure-messaging
        // bit and b4-b1 the channel; otherwise b4-b3 are secure messaging and b2-b1 the channel (0-3).
        // The class (b8) and the chaining bit (b5) sit at the same place in both. Secured commands are
        // cardsmith's own format (b4-b3 = 01, CLA 84 / 04; docs/security.md); the ISO formats are 6882.
        boolean further = (claByte & 0x40) != 0;
        byte smBits = (byte) (claByte & (further ? 0x20 : 0x0C));
        if (!further && smBits != 0 && smBits != Proto.SM_CLA_BIT) {
            ISOException.throwIt(Proto.SW_SECURE_MESSAGING_NOT_SUPPORTED);
        }
        boolean secured = smBits != 0;
        trust.commandStart();
        byte baseCla = further ? (byte) (claByte & (byte) 0x80) : (byte) (claByte & (byte) 0xE0);
        boolean chained = (claByte & Proto.CLA_CHAIN_BIT) != 0;

        if (ins == Proto.INS_GET_RESPONSE && baseCla == Proto.CLA_ISO && !chained) {
            getResponse(apdu);
            return;
        }
        io[IO_RSP_LEN] = 0; // any other command drops what was left of the previous response
        if (secured != trust.sessionOpen()) {
            if (secured) {
                abortChain();
                ISOException.throwIt(Proto.SW_SECURITY_STATUS_NOT_SATISFIED); // no session to unwrap it
            }
            trust.end(); // a plain command inside a session ends it: it gets no permission of the session
        }
        short route = findRoute(ins);
        if (route < 0) {
            abortChain();
            ISOException.throwIt(Proto.SW_INS_NOT_SUPPORTED);
        }
        byte cla = (Proto.ROUTES[(short) (route + 2)] & Proto.ROUTE_CLA_ISO) != 0 ? Proto.CLA_ISO
                : Proto.CLA_PROPRIETARY;
        if (baseCla != cla) {
            abortChain();
            ISOException.throwIt(Proto.SW_CLA_NOT_SUPPORTED);
        }

        short hdr = Util.makeShort(ins, buf[ISO7816.OFFSET_P1]);
        short p2 = (short) (buf[ISO7816.OFFSET_P2] & 0xFF);
        if (io[IO_CHAIN_P2] >= 0 && (io[IO_CHAIN_HDR] != hdr || io[IO_CHAIN_P2] != p2)) {
            abortChain();
            ISOException.throwIt(Proto.SW_LAST_COMMAND_EXPECTED);
        }
        receiveInto(apdu, buf, secured);
        if (chained) {
            io[IO_CHAIN_HDR] = hdr;
            io[IO_CHAIN_P2] = p2;
            return;
        }
        short len = io[IO_CHAIN_LEN];
        io[IO_CHAIN_LEN] = 0;
        io[IO_CHAIN_P2] = -1;

        byte p1 = buf[ISO7816.OFFSET_P1];
        byte p2b = buf[ISO7816.OFFSET_P2];
        if (secured) {
            len = trust.unwrap((byte) (cla | Proto.SM_CLA_BIT), ins, p1, p2b, cmd, len);
        }
        short out = executeGuarded(route, p1, p2b, cmd, (short) 0, len);
        if (secured) {
            out = trust.wrap(rsp, out);
        }
        io[IO_RSP_OFF] = 0;
        io[IO_RSP_LEN] = out;
        sendPending(apdu);
    }

    /** Offset of ins's entry in Proto.ROUTES, or -1 for an instruction the protocol does not have. */
    private static short findRoute(byte ins) {
        byte[] routes = Proto.ROUTES;
        for (short r = 0; r < (short) routes.length; r += Proto.ROUTE_ENTRY) {
            if (routes[r] == ins) {
                return r;
            }
        }
        return -1;
    }

    /** The Proto.CAPABILITY_* index of ins, or -1 for an instruction the protocol does not have. */
    static short capabilityOf(byte ins) {
        short r = findRoute(ins);
        return r < 0 ? -1 : Proto.ROUTES[(short) (r + 1)];
    }

    private void abortChain() {
        io[IO_CHAIN_LEN] = 0;
        io[IO_CHAIN_P2] = -1;
    }

    /** Appends this APDU's data (short or extended) to cmd; a secured command may carry its SM overhead. */
    private void receiveInto(APDU apdu, byte[] buf, boolean secured) {
        short got = apdu.setIncomingAndReceive();
        short total = apdu.getIncomingLength();
        short at = io[IO_CHAIN_LEN];
        short room = (short) (Proto.COMMAND_BUFFER_SIZE + (secured ? SecureMessaging.MAX_OVERHEAD : 0) - at);
        if (total > room || total < 0) {
            abortChain();
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
        short dataOff = apdu.getOffsetCdata();
        while (got > 0) {
            Util.arrayCopyNonAtomic(buf, dataOff, cmd, at, got);
            at += got;
            got = apdu.receiveBytes(dataOff);
        }
        io[IO_CHAIN_LEN] = at;
    }

    private void getResponse(APDU apdu) {
        if (io[IO_RSP_LEN] == 0) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
        }
        if (Util.getShort(apdu.getBuffer(), ISO7816.OFFSET_P1) != 0) {
            ISOException.throwIt(Proto.SW_INCORRECT_P1P2);
        }
        sendPending(apdu);
    }

    /** Sends as much of the pending response as Le allows; 61xx announces the rest. */
    private void sendPending(APDU apdu) {
        short pending = io[IO_RSP_LEN];
        if (pending == 0) {
            return;
        }
        short ne = apdu.setOutgoing();
        if (ne < 0 || ne > Proto.RESPONSE_BUFFER_SIZE) {
            ne = Proto.RESPONSE_BUFFER_SIZE; // an extended Le of 0x8000 or more reads negative as a short
        }
        short chunk = pending < ne ? pending : ne;
        short off = io[IO_RSP_OFF];
        if (chunk > 0) {
            apdu.setOutgoingLength(chunk);
            apdu.sendBytesLong(rsp, off, chunk);
        }
        pending -= chunk;
        io[IO_RSP_LEN] = pending;
        io[IO_RSP_OFF] = (short) (off + chunk);
        if (pending > 0) {
            ISOException.throwIt((short) (Proto.SW_BYTES_REMAINING | (pending > 255 ? 0 : pending)));
        }
    }

    /** run, with platform exceptions turned into the protocol's status words. */
    private short executeGuarded(short route, byte p1, byte p2, byte[] in, short inOff, short inLen) {
        try {
            return run(route, p1, p2, in, inOff, inLen);
        } catch (ISOException e) {
            Tx.abort(); // a refusal never leaves half an update behind
            throw e;
        } catch (CryptoException e) {
            Tx.abort();
            ISOException.throwIt(e.getReason() == CryptoException.NO_SUCH_ALGORITHM
                    ? Proto.SW_FUNCTION_NOT_SUPPORTED : Proto.SW_WRONG_DATA);
        } catch (TransactionException e) {
            Tx.abort();
            ISOException.throwIt(Proto.SW_NOT_ENOUGH_MEMORY);
        } catch (SystemException e) {
            Tx.abort();
            ISOException.throwIt(e.getReason() == SystemException.NO_RESOURCE
                    ? Proto.SW_NOT_ENOUGH_MEMORY : Proto.SW_CONDITIONS_NOT_SATISFIED);
        }
        return 0;
    }

    /**
     * Runs one command through the dispatch table: unknown INS 6D00, then the lifecycle condition 6985,
     * then the capability's handler. Input is in[inOff..inOff+inLen); output goes to rsp[0..], its length
     * is returned. Refusals are ISOExceptions. Stored-bundle execution calls this (no CLA: an inner
     * command has none).
     */
    short execute(byte ins, byte p1, byte p2, byte[] in, short inOff, short inLen) {
        short route = findRoute(ins);
        if (route < 0) {
            ISOException.throwIt(Proto.SW_INS_NOT_SUPPORTED);
        }
        return run(route, p1, p2, in, inOff, inLen);
    }

    /**
     * The lifecycle check, the access condition of the current lifecycle state and the handler call of the
     * table entry at route. A command flagged ROUTE_WRITES makes the card no longer blank, committed before its
     * handler runs, so no power cut can leave a written card counting as blank (a refused one errs on the safe
     * side: the card then needs a permitted session, not a blank check, to take another card's restore).
     */
    private short run(short route, byte p1, byte p2, byte[] in, short inOff, short inLen) {
        byte[] routes = Proto.ROUTES;
        byte flags = routes[(short) (route + 2)];
        if ((flags & Proto.ROUTE_WHEN_INVALID) == 0 && identity.invalid()) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED); // invalid for good (docs/identity.md)
        }
        boolean installed = state[STATE_LIFECYCLE] == Proto.LIFECYCLE_INSTALLED;
        if ((flags & Proto.ROUTE_INSTALLED) != 0 && !installed) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
        }
        requireAccess(routes[(short) (route + (installed ? Proto.ROUTE_ACCESS_INSTALLED : Proto.ROUTE_ACCESS_ISSUED))]);
        if ((flags & Proto.ROUTE_WRITES) != 0 && state[STATE_ORIGIN] != ORIGIN_WRITTEN) {
            Tx.begin();
            Tx.setByte(state, STATE_ORIGIN, ORIGIN_WRITTEN);
            Tx.commit();
        }
        return caps[routes[(short) (route + 1)]].dispatch(routes[route], p1, p2, in, inOff, inLen);
    }

    /**
     * The one evaluator of access conditions (an access byte: Proto.ACCESS_* kind | Proto.PERM_* bit): the
     * dispatcher calls it with the table's condition, handlers with the conditions that depend on P1 or on
     * a region (docs/security.md). ALWAYS passes; NEVER is 6985; PIN needs the holder PIN verified in this
     * selection, ROLE a session granting the permission, PIN_OR_ROLE either; otherwise 6982.
     */
    void requireAccess(byte access) {
        byte kind = (byte) (access & Proto.ACCESS_KIND_MASK);
        if (kind == Proto.ACCESS_ALWAYS) {
            return;
        }
        if (kind == Proto.ACCESS_NEVER) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
        }
        if (kind != Proto.ACCESS_ROLE && holderPin.verified()) {
            return;
        }
        if (kind != Proto.ACCESS_PIN && hasPermission((byte) (access & Proto.ACCESS_PERM_MASK))) {
            return;
        }
        ISOException.throwIt(Proto.SW_SECURITY_STATUS_NOT_SATISFIED);
    }

    /**
     * Trust ended the session: the PIN's verified state ends (it may have been verified inside it), and so
     * does any PIN registration begun in it.
     */
    void sessionEnded() {
        holderPin.forget();
        identity.sessionEnded();
    }

    /** Trust opens (the certificate's permission mask) and ends (0) the session's permissions. */
    void setSessionPermissions(short permissions) {
        session[0] = permissions;
    }

    short sessionPermissions() {
        return session[0];
    }

    /** Whether the open authenticated session grants permission bit perm (Proto.PERM_*). */
    private boolean hasPermission(byte perm) {
        return perm < 16 && (session[0] & (short) ((short) 1 << perm)) != 0;
    }

    /**
     * RESTORE of another card's backup (Restore calls it before anything is checked): allowed onto a blank
     * card, or one that holds only restores of the same source card (the rest of its chain); otherwise only
     * in a session with permission replace (6982).
     */
    void requireRestorableFrom(byte[] src, short srcOff) {
        byte origin = state[STATE_ORIGIN];
        if (origin == ORIGIN_BLANK || (origin == ORIGIN_RESTORED
                && Util.arrayCompare(state, STATE_SOURCE, src, srcOff, Proto.CARD_ID_LENGTH) == 0)) {
            return;
        }
        requireAccess((byte) (Proto.ACCESS_ROLE | Proto.PERM_REPLACE));
    }

    /** A genuine backup of card src is being restored onto this card: a blank card now holds src's data. */
    void noteRestoredFrom(byte[] src, short srcOff) {
        if (state[STATE_ORIGIN] == ORIGIN_BLANK) {
            Tx.begin();
            Tx.copy(src, srcOff, state, STATE_SOURCE, Proto.CARD_ID_LENGTH);
            Tx.setByte(state, STATE_ORIGIN, ORIGIN_RESTORED);
            Tx.commit();
        }
    }

    /** Blank: nothing written since install or the last complete CLEAR (docs/security.md). */
    boolean blank() {
        return state[STATE_ORIGIN] == ORIGIN_BLANK;
    }

    /**
     * CLEAR_BUNDLE (Bundle calls it): clear() on every capability, so none can forget to take part. Issuance
     * goes last: its clear() sets the bundle status to EMPTY, so a power loss before the end leaves the old
     * status and the host simply sends CLEAR again (every clear() is idempotent).
     */
    void clearAll() {
        for (short i = 0; i < (short) caps.length; i++) {
            if (caps[i].busy()) {
                ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED); // a session of capability i is open
            }
        }
        for (short i = 0; i < (short) caps.length; i++) {
            if (i != Proto.CAPABILITY_ISSUANCE) {
                caps[i].clear();
            }
        }
        caps[Proto.CAPABILITY_ISSUANCE].clear();
        Faults.point();
        Tx.begin(); // only a CLEAR that got this far makes the card blank again
        Tx.setByte(state, STATE_ORIGIN, ORIGIN_BLANK);
        Tx.fill(state, STATE_SOURCE, Proto.CARD_ID_LENGTH, (byte) 0);
        Tx.commit();
    }

    /** 6A86 unless P1 and P2 are both zero (shared by every capability). */
    static void requireP1P2(byte p1, byte p2) {
        if (p1 != 0 || p2 != 0) {
            ISOException.throwIt(Proto.SW_INCORRECT_P1P2);
        }
    }

    /** GET INFO's answer: what every capability adds, core's part first. */
    short info(byte[] out) {
        short off = 0;
        for (short i = 0; i < (short) caps.length; i++) {
            off = caps[i].putInfo(out, off);
        }
        return off;
    }

    /** CLOSE PERSONALISATION: INSTALLED to ISSUED, for good. */
    void issue() {
        Tx.begin();
        Tx.setByte(state, STATE_LIFECYCLE, Proto.LIFECYCLE_ISSUED);
        Faults.point();
        Tx.commit();
    }

    /** The shared algorithm instances (see Algorithms). */
    Algorithms algorithms() {
        return algorithms;
    }

    /** The response buffer handlers write into. */
    byte[] responseBuffer() {
        return rsp;
    }

    /** The card id (do not modify). */
    byte[] cardId() {
        return cardId;
    }

    /** The holder PIN: other capabilities call holderPin().verified() or holderPin().require(). */
    HolderPin holderPin() {
        return holderPin;
    }

    DataArea dataArea() {
        return dataArea;
    }

    /** The lifecycle state (LIFECYCLE_*). */
    byte lifecycle() {
        return state[STATE_LIFECYCLE];
    }
}
