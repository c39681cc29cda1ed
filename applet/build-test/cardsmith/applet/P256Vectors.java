package cardsmith.applet;

import com.licel.jcardsim.smartcardio.CardSimulator;
import java.io.BufferedReader;
import java.io.InputStreamReader;

/**
 * TEST BUILD ONLY (never converted): drives the applet's P256Check from stdin, one request a line, one
 * answer a line: "mul A B" (32-byte hex each) -> hex of A*B mod p; "on POINT" (65-byte hex) -> 1 or 0.
 * tests/duplication/test_p256_check.py compares the answers with Python's integers.
 */
public final class P256Vectors {
    private P256Vectors() {
    }

    private static byte[] hex(String s) {
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    public static void main(String[] args) throws Exception {
        new CardSimulator(); // the Java Card runtime JCSystem needs
        P256Check check = new P256Check();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "US-ASCII"));
        StringBuilder out = new StringBuilder();
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            String[] f = line.trim().split(" ");
            if (f[0].equals("mul")) {
                byte[] a = hex(f[1]);
                byte[] r = new byte[32];
                check.mulMod(a, (short) 0, hex(f[2]), (short) 0, r, (short) 0);
                for (byte x : r) {
                    out.append(String.format("%02x", x));
                }
                out.append('\n');
            } else {
                out.append(check.onCurve(hex(f[1]), (short) 0) ? "1\n" : "0\n");
            }
        }
        System.out.print(out);
    }
}
