package cardsmith.sim;

import java.lang.reflect.Array;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * jCardSim 3.0.6 generates every key pair from a null random source (KeyPairImpl.rnd is a
 * SecureRandomNullProvider), so every simulated card and every "ephemeral" key got the same EC key pair.
 * After an applet is installed, this walks the simulated card's objects and gives each KeyPairImpl a real
 * SecureRandom. Simulator only: real cards generate keys from their own TRNG.
 */
final class Entropy {
    private static final int LIMIT = 200_000;

    private Entropy() {
    }

    /** ArrayDeque takes no nulls (unused slots of the applet's arrays are null). */
    private static void add(ArrayDeque<Object> todo, Object o) {
        if (o != null) {
            todo.add(o);
        }
    }

    static void fix(Object root) {
        IdentityHashMap<Object, Boolean> seen = new IdentityHashMap<>();
        ArrayDeque<Object> todo = new ArrayDeque<>();
        todo.add(root);
        while (!todo.isEmpty() && seen.size() < LIMIT) {
            Object o = todo.poll();
            if (o == null || seen.put(o, Boolean.TRUE) != null) {
                continue;
            }
            Class<?> c = o.getClass();
            if (c.isArray()) {
                if (!c.getComponentType().isPrimitive()) {
                    for (int i = 0; i < Array.getLength(o); i++) {
                        add(todo, Array.get(o, i));
                    }
                }
                continue;
            }
            if (o instanceof Map) {
                for (Object v : ((Map<?, ?>) o).values()) {
                    add(todo, v);
                }
                continue;
            }
            if (o instanceof Collection) {
                for (Object v : (Collection<?>) o) {
                    add(todo, v);
                }
                continue;
            }
            String name = c.getName();
            if (name.startsWith("java.") || name.startsWith("javax.") || name.startsWith("jdk.")
                    || name.startsWith("sun.")) {
                continue;
            }
            if (name.equals("com.licel.jcardsim.crypto.KeyPairImpl")) {
                try {
                    Field f = c.getDeclaredField("rnd");
                    f.setAccessible(true);
                    f.set(o, new SecureRandom());
                } catch (ReflectiveOperationException e) {
                    throw new IllegalStateException("cannot seed jCardSim's key generation", e);
                }
            }
            for (Class<?> k = c; k != null && k != Object.class; k = k.getSuperclass()) {
                for (Field f : k.getDeclaredFields()) {
                    if (f.getType().isPrimitive() || Modifier.isStatic(f.getModifiers())) {
                        continue;
                    }
                    try {
                        f.setAccessible(true);
                        add(todo, f.get(o));
                    } catch (RuntimeException | IllegalAccessException e) {
                        // not reachable from here: skip
                    }
                }
            }
        }
    }
}
