package cardsmith.applet;

import javacard.framework.JCSystem;

/**
 * TEST BUILD ONLY: checks Cmac against the NIST SP 800-38B AES-256 examples (D.3) and prints the KDF of
 * a fixed key for the host mirror. Run by tests/test_duplication_crypto.py inside jCardSim's runtime.
 */
public final class CmacSelfTest {
    private CmacSelfTest() {
    }

    private static byte[] hex(String s) {
        byte[] out = new byte[s.length() / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return out;
    }

    private static String str(byte[] b, int off, int len) {
        StringBuilder sb = new StringBuilder();
        for (int i = off; i < off + len; i++) {
            sb.append(String.format("%02x", b[i] & 0xFF));
        }
        return sb.toString();
    }

    public static void main(String[] args) {
        com.licel.jcardsim.base.Simulator sim = new com.licel.jcardsim.base.Simulator();
        Algorithms alg = new Algorithms();
        Cmac cmac = new Cmac(alg);
        Kdf256 kdf = new Kdf256(cmac);
        byte[] key = hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
        byte[] msg = hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
                + "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710");
        int[] lengths = {0, 16, 40, 64};
        byte[] out = new byte[32];
        for (int len : lengths) {
            cmac.mac(key, (short) 0, msg, (short) 0, (short) len, out, (short) 0);
            System.out.println("cmac " + len + " " + str(out, 0, 16));
        }
        kdf.derive(key, (short) 0, Kdf256.LABEL_ENC, msg, (short) 0, (short) 8, out, (short) 0);
        System.out.println("kdf " + str(out, 0, 32));
        JCSystem.getVersion();
        sim.resetRuntime();
    }
}
