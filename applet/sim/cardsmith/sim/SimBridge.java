package cardsmith.sim;

import com.licel.jcardsim.base.Simulator;
import com.licel.jcardsim.base.SimulatorRuntime;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import javacard.framework.AID;
import jdk.net.ExtendedSocketOptions;

/**
 * Hosts simulated cardsmith cards (jCardSim) in one JVM and exposes them two ways:
 *
 * <ul>
 *   <li>a loopback TCP service speaking cardsmith's framed protocol (the embedded transport and the
 *       {@code cardsmith sim} service): request = u16 length, op, slot, data; reply = u16 length,
 *       status, data;
 *   <li>optionally, each card plugged into vpcd (vsmartcard) so pcscd shows it as a PC/SC reader.
 * </ul>
 *
 * Usage: SimBridge [--listen HOST:PORT] [--cards N] [--install HEX] [--vpcd HOST:PORT]
 * [--exit-on-stdin-eof]. Prints "CARDSMITH-SIM READY port=P cards=N" once it listens.
 */
public final class SimBridge {
    static final byte OP_TRANSMIT = 'T';
    static final byte OP_RESET = 'R';
    static final byte OP_ATR = 'A';
    static final byte OP_INFO = 'I';
    static final byte OP_EJECT = 'X';
    static final byte OP_INSERT = 'N';
    static final byte OP_QUIT = 'Q';
    static final byte OP_FRESH = 'F';

    static final byte ST_OK = 0;
    static final byte ST_BAD_SLOT = 1;
    static final byte ST_ERROR = 2;
    static final byte ST_NO_CARD = 3;
    static final byte ST_TORN = 4;

    static final String APPLET_CLASS = "cardsmith.applet.CardsmithApplet";

    /** GlobalPlatform install data, as a real card manager passes it: [Li AID][Lc control][La params]. */
    static byte[] installData(byte[] aid, byte[] params) {
        byte[] install = new byte[aid.length + params.length + 3];
        install[0] = (byte) aid.length;
        System.arraycopy(aid, 0, install, 1, aid.length);
        install[aid.length + 1] = 0;
        install[aid.length + 2] = (byte) params.length;
        System.arraycopy(params, 0, install, aid.length + 3, params.length);
        return install;
    }

    /** The applet class from the bridge's own class loader, so that Faults is the same class as the applet's. */
    @SuppressWarnings("unchecked")
    static Class<? extends javacard.framework.Applet> appletClass() {
        try {
            return (Class<? extends javacard.framework.Applet>) Class.forName(APPLET_CLASS);
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("applet classes missing from the class path", e);
        }
    }

    private final SimCard[] cards;
    private final String vpcdHost;
    private final int vpcdPort;

    SimBridge(int count, byte[] installParams, String vpcdHost, int vpcdPort) throws Exception {
        this.vpcdHost = vpcdHost;
        this.vpcdPort = vpcdPort;
        cards = new SimCard[count];
        byte[] aid = hex(System.getProperty("cardsmith.aid", "F063617264736D69746801"));
        for (int i = 0; i < count; i++) {
            cards[i] = new SimCard(i, aid, installParams);
        }
    }

    /** One simulated card: a jCardSim Simulator with the applet installed, and its presence flag. */
    static final class SimCard {
        final int slot;
        private final byte[] aid;
        private Simulator sim;
        volatile boolean present = true;
        volatile VpcdLink link;

        SimCard(int slot, byte[] aid, byte[] params) {
            this.slot = slot;
            this.aid = aid;
            sim = blankCard(aid, params);
        }

        /** Replaces this slot's card with a newly installed one (new card id, empty state). */
        synchronized void replace(byte[] params) {
            sim = blankCard(aid, params);
        }

        static Simulator blankCard(byte[] aid, byte[] params) {
            Simulator sim = new Simulator(new SimulatorRuntime()); // own runtime: cards share nothing
            byte[] install = installData(aid, params);
            sim.installApplet(new AID(aid, (short) 0, (byte) aid.length), appletClass(), install, (short) 0,
                    (byte) install.length);
            return sim;
        }

        /** One APDU. All cards share one lock: the test build's fault injector is JVM-wide. */
        byte[] transmit(byte[] apdu) {
            synchronized (SimBridge.class) {
                byte[] response;
                synchronized (this) {
                    try {
                        response = sim.transmitCommand(apdu);
                    } catch (RuntimeException e) {
                        // Exceptions from the applet become 6F00 inside jCardSim; what escapes is jCardSim
                        // refusing a malformed APDU (Lc disagreeing with the data) before the applet sees
                        // it. A real card's OS answers 6700 (wrong length) there, so the simulated card
                        // does too.
                        response = new byte[] {0x67, 0x00};
                    }
                    if (consumeTear()) {
                        sim.reset(); // the power came back: transient memory cleared, nothing selected
                        throw new TornException();
                    }
                }
                return response;
            }
        }

        synchronized byte[] atr() {
            return sim.getATR();
        }

        synchronized void reset() {
            sim.reset();
        }
    }

    // ------------------------------------------------------------------ framed TCP service

    void serve(ServerSocket server) {
        while (true) {
            Socket s;
            try {
                s = server.accept();
            } catch (IOException e) {
                return;
            }
            Thread t = new Thread(() -> handle(s), "client-" + s.getPort());
            t.setDaemon(true);
            t.start();
        }
    }

    private void handle(Socket s) {
        try (Socket sock = s) {
            sock.setTcpNoDelay(true);
            DataInputStream in = new DataInputStream(new BufferedInputStream(sock.getInputStream()));
            DataOutputStream out = new DataOutputStream(new BufferedOutputStream(sock.getOutputStream()));
            while (true) {
                byte[] req = readFrame(in);
                if (req == null) {
                    return;
                }
                writeFrame(out, answer(req));
                out.flush();
                if (req.length >= 1 && req[0] == OP_QUIT) {
                    System.exit(0);
                }
            }
        } catch (IOException e) {
            // client went away
        }
    }

    byte[] answer(byte[] req) {
        if (req.length < 2) {
            return status(ST_ERROR, "request too short");
        }
        byte op = req[0];
        if (op == OP_INFO) {
            return status(ST_OK, "cards=" + cards.length + (vpcdHost != null ? " vpcd=" + vpcdHost + ":" + vpcdPort : ""));
        }
        if (op == OP_QUIT) {
            return status(ST_OK, "bye");
        }
        int slot = req[1] & 0xFF;
        if (slot >= cards.length) {
            return status(ST_BAD_SLOT, "no simulated card in slot " + slot + " (there are " + cards.length + ")");
        }
        SimCard card = cards[slot];
        try {
            switch (op) {
                case OP_EJECT:
                    card.present = false;
                    if (card.link != null) {
                        card.link.disconnect();
                    }
                    return status(ST_OK, "");
                case OP_FRESH: {
                    byte[] params = new byte[req.length - 2];
                    System.arraycopy(req, 2, params, 0, params.length);
                    card.replace(params);
                    return withStatus(ST_OK, card.atr());
                }
                case OP_INSERT:
                    card.reset();
                    card.present = true;
                    if (card.link != null) {
                        card.link.reconnect();
                    }
                    return status(ST_OK, "");
                default:
                    break;
            }
            if (!card.present) {
                return status(ST_NO_CARD, "no card in simulated slot " + slot);
            }
            switch (op) {
                case OP_TRANSMIT: {
                    byte[] apdu = new byte[req.length - 2];
                    System.arraycopy(req, 2, apdu, 0, apdu.length);
                    return withStatus(ST_OK, card.transmit(apdu));
                }
                case OP_RESET:
                    card.reset();
                    return withStatus(ST_OK, card.atr());
                case OP_ATR:
                    return withStatus(ST_OK, card.atr());
                default:
                    return status(ST_ERROR, "unknown op " + op);
            }
        } catch (TornException e) {
            return status(ST_TORN, "simulated card " + slot + " lost power in the middle of the command");
        } catch (RuntimeException e) {
            return status(ST_ERROR, "simulator error: " + e);
        }
    }

    /** A simulated power loss in the middle of a command (test build of the applet only). */
    static final class TornException extends RuntimeException {
        private static final long serialVersionUID = 1L;
    }

    private static java.lang.reflect.Method tearProbe;
    private static boolean tearProbeLooked;

    /** Asks the test build's Faults whether it cut the power; the production build has no such probe. */
    static boolean consumeTear() {
        if (!tearProbeLooked) {
            tearProbeLooked = true;
            try {
                tearProbe = Class.forName("cardsmith.applet.Faults").getDeclaredMethod("consumeTear");
                tearProbe.setAccessible(true);
            } catch (ReflectiveOperationException e) {
                tearProbe = null;
            }
        }
        if (tearProbe == null) {
            return false;
        }
        try {
            return (Boolean) tearProbe.invoke(null);
        } catch (ReflectiveOperationException e) {
            return false;
        }
    }

    static byte[] status(byte st, String message) {
        return withStatus(st, message.getBytes(StandardCharsets.UTF_8));
    }

    static byte[] withStatus(byte st, byte[] data) {
        byte[] r = new byte[data.length + 1];
        r[0] = st;
        System.arraycopy(data, 0, r, 1, data.length);
        return r;
    }

    static byte[] readFrame(DataInputStream in) throws IOException {
        int len;
        try {
            len = in.readUnsignedShort();
        } catch (EOFException e) {
            return null;
        }
        byte[] body = new byte[len];
        in.readFully(body);
        return body;
    }

    static void writeFrame(DataOutputStream out, byte[] body) throws IOException {
        out.writeShort(body.length);
        out.write(body);
    }

    // ------------------------------------------------------------------ vpcd

    /**
     * A card's connection to vpcd (vsmartcard's virtual reader driver inside pcscd). The card is
     * "inserted" while connected. vpcd frames: u16 length + body; a 1-byte body is a control message
     * (0 power off, 1 power on, 2 reset, 4 get ATR), anything longer is a command APDU.
     */
    final class VpcdLink implements Runnable {
        private final SimCard card;
        private final int port;
        private volatile Socket socket;
        private volatile boolean wanted = true;

        VpcdLink(SimCard card, int port) {
            this.card = card;
            this.port = port;
        }

        synchronized void disconnect() {
            wanted = false;
            closeQuietly();
        }

        synchronized void reconnect() {
            wanted = true;
            notifyAll();
        }

        private void closeQuietly() {
            Socket s = socket;
            if (s != null) {
                try {
                    s.close();
                } catch (IOException e) {
                    // already closed
                }
            }
        }

        public void run() {
            while (true) {
                synchronized (this) {
                    while (!wanted) {
                        try {
                            wait();
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                }
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress(vpcdHost, port), 2000);
                    s.setTcpNoDelay(true);
                    socket = s;
                    log("slot " + card.slot + " connected to vpcd " + vpcdHost + ":" + port);
                    pump(s, s.getInputStream(), s.getOutputStream());
                    log("slot " + card.slot + " vpcd link ended");
                } catch (IOException e) {
                    // vpcd not up yet, or the link was closed: retry below
                }
                socket = null;
                try {
                    // Stay away longer than pcscd's presence poll (400 ms), so that pcscd sees the card
                    // leave before it comes back; a quicker return can leave pcscd's reader state stale.
                    Thread.sleep(1000);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }

        private void pump(Socket s, InputStream rawIn, OutputStream rawOut) throws IOException {
            DataInputStream in = new DataInputStream(new BufferedInputStream(rawIn));
            DataOutputStream out = new DataOutputStream(new BufferedOutputStream(rawOut));
            while (true) {
                quickAck(s);
                byte[] msg = readFrame(in);
                if (msg == null) {
                    return;
                }
                if (msg.length == 1) {
                    switch (msg[0]) {
                        case 0: // power off
                        case 1: // power on
                        case 2: // reset
                            card.reset();
                            break;
                        case 4:
                            writeFrame(out, card.atr());
                            out.flush();
                            break;
                        default:
                            break;
                    }
                } else {
                    byte[] response;
                    try {
                        response = card.transmit(msg);
                    } catch (TornException e) {
                        return; // power lost: the reader sees the card go away, and come back on reconnect
                    }
                    writeFrame(out, response);
                    out.flush();
                }
            }
        }

        /**
         * vpcd writes a frame's length and its body in two sends; with delayed ACK on this side and Nagle
         * on vpcd's, the body waits ~40 ms for our ACK. Linux resets TCP_QUICKACK after it is used, so it is
         * set again before every read (docs/transports.md). Elsewhere the option is missing: nothing to do.
         */
        private void quickAck(Socket s) {
            try {
                s.setOption(ExtendedSocketOptions.TCP_QUICKACK, Boolean.TRUE);
            } catch (UnsupportedOperationException | IOException e) {
                // not Linux, or the socket is closing: the exchange is only slower
            }
        }
    }

    void startVpcd() {
        for (SimCard card : cards) {
            VpcdLink link = new VpcdLink(card, vpcdPort + card.slot);
            card.link = link;
            Thread t = new Thread(link, "vpcd-" + card.slot);
            t.setDaemon(true);
            t.start();
        }
    }

    // ------------------------------------------------------------------ main

    static void log(String msg) {
        System.err.println("[cardsmith-sim] " + msg);
    }

    static byte[] hex(String s) {
        s = s.replaceAll("\\s", "");
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    public static void main(String[] args) throws Exception {
        // stdout carries only the READY line; jCardSim's own chatter goes to stderr with our log.
        java.io.PrintStream ready = System.out;
        System.setOut(System.err);
        // jCardSim's RandomData is a fixed-seed PRNG unless told otherwise: every simulated card would get
        // the same card id and the same keys. Seed it from the JVM's SecureRandom.
        if (System.getProperty("com.licel.jcardsim.randomdata.secure") == null) {
            System.setProperty("com.licel.jcardsim.randomdata.secure", "1");
        }
        String listen = "127.0.0.1:0";
        int count = 2;
        byte[] params = new byte[0];
        String vpcd = null;
        boolean exitOnEof = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--listen": listen = args[++i]; break;
                case "--cards": count = Integer.parseInt(args[++i]); break;
                case "--install": params = hex(args[++i]); break;
                case "--vpcd": vpcd = args[++i]; break;
                case "--exit-on-stdin-eof": exitOnEof = true; break;
                default:
                    System.err.println("unknown argument: " + args[i]);
                    System.exit(2);
            }
        }
        String vpcdHost = null;
        int vpcdPort = 0;
        if (vpcd != null) {
            vpcdHost = vpcd.substring(0, vpcd.lastIndexOf(':'));
            vpcdPort = Integer.parseInt(vpcd.substring(vpcd.lastIndexOf(':') + 1));
        }
        SimBridge bridge = new SimBridge(count, params, vpcdHost, vpcdPort);
        String host = listen.substring(0, listen.lastIndexOf(':'));
        int port = Integer.parseInt(listen.substring(listen.lastIndexOf(':') + 1));
        ServerSocket server = new ServerSocket(port, 16, InetAddress.getByName(host));
        if (vpcdHost != null) {
            bridge.startVpcd();
        }
        if (exitOnEof) {
            Thread watcher = new Thread(() -> {
                try {
                    while (System.in.read() >= 0) {
                        // drain
                    }
                } catch (IOException e) {
                    // parent gone
                }
                System.exit(0);
            }, "stdin-watch");
            watcher.setDaemon(true);
            watcher.start();
        }
        ready.println("CARDSMITH-SIM READY port=" + server.getLocalPort() + " cards=" + count);
        ready.flush();
        bridge.serve(server);
    }
}
