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
