package cardsmith.sim;

import com.licel.jcardsim.base.Simulator;
import com.licel.jcardsim.base.SimulatorRuntime;
import java.lang.reflect.Array;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javacard.framework.AID;
import javacard.framework.Applet;
import javacard.framework.JCSystem;
import javacard.security.ECKey;
import javacard.security.Key;
import javacard.security.KeyBuilder;
import javacard.security.KeyPair;

/**
 * Memory the applet allocates at install, measured on an installed instance: jCardSim answers 32767 to
 * every getAvailableMemory call, so free-memory deltas say nothing; instead this walks the applet's object
 * graph (instance and static fields of the applet package) after install and adds up every array, split
 * into persistent, CLEAR_ON_DESELECT and CLEAR_ON_RESET by jCardSim's transient-memory bookkeeping.
 * Platform objects (ciphers, keys, ...) are counted by type: their size is the card's business.
 *
 * <p>Usage: Footprint PARAMS_HEX [PARAMS_HEX ...]; prints one JSON object per install, one per line.
 * Generic over whatever the applet package holds: new capabilities show up without changes here.
 */
public final class Footprint {
    private static final String APPLET_PACKAGE = "cardsmith.applet.";

    private final SimulatorRuntime runtime;
    private final Map<Object, Boolean> seen = new IdentityHashMap<>();
    private long persistent;
    private long deselect;
    private long reset;
    private int appletObjects;
    private int appletFields;
    private final List<String> arrays = new ArrayList<>();
    private final Map<String, Integer> platform = new TreeMap<>();
    private final Map<String, Long> keyBytes = new TreeMap<>();
    private final List<String> keys = new ArrayList<>();

    private Footprint(SimulatorRuntime runtime) {
        this.runtime = runtime;
    }

    /** jCardSim keeps getApplet protected: a subclass in our package reaches it. */
    static final class Runtime extends SimulatorRuntime {
        Applet applet(AID aid) {
            return getApplet(aid);
        }
    }

    private static int elementBytes(Class<?> component) {
        if (component == byte.class || component == boolean.class) {
            return 1;
        }
        if (component == short.class) {
            return 2;
        }
        if (!component.isPrimitive()) {
            return 2; // an object reference on a Java Card VM is a 16-bit handle
        }
        return 4; // int: only with the optional int support; the conversion check rejects it
    }

    private void walk(Object o, String path) throws IllegalAccessException {
        if (o == null || seen.containsKey(o)) {
            return;
        }
        seen.put(o, Boolean.TRUE);
        Class<?> c = o.getClass();
        if (c.isArray()) {
            int len = Array.getLength(o);
            long bytes = (long) len * elementBytes(c.getComponentType());
            byte kind = runtime.getTransientMemory().isTransient(o);
            String where;
            if (kind == JCSystem.CLEAR_ON_DESELECT) {
                deselect += bytes;
                where = "deselect";
            } else if (kind == JCSystem.CLEAR_ON_RESET) {
                reset += bytes;
                where = "reset";
            } else {
                persistent += bytes;
                where = "persistent";
            }
            arrays.add("{\"path\":\"" + path + "\",\"type\":\"" + c.getComponentType().getName() + "[" + len
                    + "]\",\"bytes\":" + bytes + ",\"memory\":\"" + where + "\"}");
            if (!c.getComponentType().isPrimitive()) {
                for (int i = 0; i < len; i++) {
                    walk(Array.get(o, i), path + "[" + i + "]");
                }
            }
            return;
        }
        if (!c.getName().startsWith(APPLET_PACKAGE)) {
            platform.merge(platformName(c), 1, Integer::sum);
            if (o instanceof KeyPair) {
                walk(((KeyPair) o).getPublic(), path + ".getPublic()");
                walk(((KeyPair) o).getPrivate(), path + ".getPrivate()");
            } else if (o instanceof Key) {
                key((Key) o, path);
            }
            return;
        }
        appletObjects++;
        for (Class<?> k = c; k != null && k.getName().startsWith(APPLET_PACKAGE); k = k.getSuperclass()) {
            for (Field f : k.getDeclaredFields()) {
                if (Modifier.isStatic(f.getModifiers())) {
                    continue;
                }
                appletFields++;
                if (!f.getType().isPrimitive()) {
                    f.setAccessible(true);
                    walk(f.get(o), path + "." + f.getName());
                }
            }
        }
    }

    /**
     * A key object's payload: the key value (an AES key's bytes; an EC key's scalar S or point W) plus, for
     * EC keys, the domain parameters every key object holds (p, a, b, r: one field element each, G a
     * point, k a short). Its memory is what its KeyBuilder type says (TYPE_..._TRANSIENT_DESELECT/_RESET or
     * persistent). The card's own bookkeeping per key object comes on top, as for every object.
     */
    private void key(Key k, String path) throws IllegalAccessException {
        short bits = k.getSize();
        int field = (bits + 7) / 8;
        long bytes;
        if (k instanceof ECKey) {
            int domain = 4 * field + (1 + 2 * field) + 2;
            bytes = domain + (k instanceof javacard.security.ECPublicKey ? 1 + 2 * field : field);
        } else {
            bytes = field;
        }
        String type = "type " + k.getType();
        for (Field f : KeyBuilder.class.getFields()) {
            if (f.getName().startsWith("TYPE_") && f.getType() == byte.class && f.getByte(null) == k.getType()) {
                type = f.getName();
            }
        }
        String where = type.contains("TRANSIENT_DESELECT") ? "deselect" : type.contains("TRANSIENT_RESET") ? "reset"
                : "persistent";
        keyBytes.merge(where, bytes, Long::sum);
        keys.add("{\"path\":\"" + path + "\",\"type\":\"" + type + "\",\"bits\":" + bits + ",\"bytes\":" + bytes
                + ",\"memory\":\"" + where + "\"}");
    }

    /** The Java Card interface a jCardSim implementation object stands for (ECPrivateKey, Cipher, ...). */
    private static String platformName(Class<?> c) {
        for (Class<?> k = c; k != null; k = k.getSuperclass()) {
            if (k.getName().startsWith("javacard")) {
                return k.getName();
            }
        }
        for (Class<?> k = c; k != null; k = k.getSuperclass()) {
            for (Class<?> i : k.getInterfaces()) {
                if (i.getName().startsWith("javacard")) {
                    return i.getName();
                }
            }
        }
        return c.getName();
    }

    /** Static fields of every applet class reached: their arrays live in the CAP's static field image. */
    private long staticArrays(List<String> out) throws IllegalAccessException {
        long bytes = 0;
        List<Class<?>> classes = new ArrayList<>();
        for (Object o : new ArrayList<>(seen.keySet())) {
            Class<?> c = o.getClass();
            if (c.getName().startsWith(APPLET_PACKAGE) && !classes.contains(c)) {
                classes.add(c);
            }
        }
        for (String extra : new String[] {"P256", "Proto"}) {
            try {
                Class<?> c = Class.forName(APPLET_PACKAGE + extra);
                if (!classes.contains(c)) {
                    classes.add(c);
                }
            } catch (ClassNotFoundException e) {
                // class renamed or removed: nothing to count
            }
        }
        for (Class<?> c : classes) {
            for (Field f : c.getDeclaredFields()) {
                if (Modifier.isStatic(f.getModifiers()) && f.getType().isArray()) {
                    f.setAccessible(true);
                    Object a = f.get(null);
                    if (a != null) {
                        long b = (long) Array.getLength(a) * elementBytes(a.getClass().getComponentType());
                        bytes += b;
                        out.add("{\"path\":\"" + c.getSimpleName() + "." + f.getName() + "\",\"bytes\":" + b + "}");
                    }
                }
            }
        }
        return bytes;
    }

    static String measure(byte[] aid, byte[] params) throws Exception {
        Runtime runtime = new Runtime();
        Simulator sim = new Simulator(runtime);
        byte[] install = SimBridge.installData(aid, params);
        AID appletAid = new AID(aid, (short) 0, (byte) aid.length);
        sim.installApplet(appletAid, SimBridge.appletClass(), install, (short) 0, (byte) install.length);
        Footprint fp = new Footprint(runtime);
        fp.walk(runtime.applet(appletAid), "applet");
        List<String> statics = new ArrayList<>();
        long staticBytes = fp.staticArrays(statics);
        StringBuilder platformJson = new StringBuilder("{");
        for (Map.Entry<String, Integer> e : fp.platform.entrySet()) {
            if (platformJson.length() > 1) {
                platformJson.append(',');
            }
            platformJson.append('"').append(e.getKey()).append("\":").append(e.getValue());
        }
        platformJson.append('}');
        return "{\"install_params\":\"" + toHex(params) + "\""
                + ",\"persistent_array_bytes\":" + fp.persistent
                + ",\"transient_deselect_bytes\":" + fp.deselect
                + ",\"transient_reset_bytes\":" + fp.reset
                + ",\"applet_objects\":" + fp.appletObjects
                + ",\"applet_object_fields\":" + fp.appletFields
                + ",\"static_array_bytes\":" + staticBytes
                + ",\"platform_objects\":" + platformJson
                + ",\"key_bytes\":{\"persistent\":" + fp.keyBytes.getOrDefault("persistent", 0L)
                + ",\"deselect\":" + fp.keyBytes.getOrDefault("deselect", 0L)
                + ",\"reset\":" + fp.keyBytes.getOrDefault("reset", 0L) + "}"
                + ",\"keys\":[" + String.join(",", fp.keys) + "]"
                + ",\"arrays\":[" + String.join(",", fp.arrays) + "]"
                + ",\"static_arrays\":[" + String.join(",", statics) + "]}";
    }

    private static String toHex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) {
            sb.append(String.format("%02X", x & 0xFF));
        }
        return sb.toString();
    }

    public static void main(String[] args) throws Exception {
        // jCardSim chats on standard output: keep it for our JSON lines only.
        java.io.PrintStream out = System.out;
        System.setOut(System.err);
        byte[] aid = SimBridge.hex(System.getProperty("cardsmith.aid", "F063617264736D69746801"));
        for (String a : args) {
            out.println(measure(aid, SimBridge.hex(a.equals("-") ? "" : a)));
        }
    }
}
