package cardsmith.applet;

import com.licel.jcardsim.smartcardio.CardSimulator;
import javacard.security.AESKey;
import javacard.security.KeyBuilder;

/**
 * TEST BUILD ONLY (never converted): runs the applet's Cmac and Kdf over the NIST SP 800-38B AES-128
 * examples and prints one line per vector, "ok" or "BAD". tests/backup/test_backup_crypto.py runs it once.
 */
public final class CmacVectors {
    private CmacVectors() {
    }

    private static byte[] hex(String s) {
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    private static String hex(byte[] b, int off, int len) {
        StringBuilder sb = new StringBuilder();
        for (int i = off; i < off + len; i++) {
            sb.append(String.format("%02x", b[i]));
        }
        return sb.toString();
    }

    public static void main(String[] args) {
        new CardSimulator(); // the Java Card runtime the static APIs need
        byte[] msg = hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
                + "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710");
        int[] lengths = {0, 16, 40, 64};
        String[] tags = {"bb1d6929e95937287fa37d129b756746", "070a16b46b4d4144f79bdd9dd04a287c",
            "dfa66747de9ae63030ca32611497c827", "51f0bebf7e3b9d92fc49741779363cfe"};
        AESKey key = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_128, false);
        key.setKey(hex("2b7e151628aed2a6abf7158809cf4f3c"), (short) 0);
        Cmac cmac = new Cmac(new Algorithms());
        byte[] out = new byte[16];
        for (int i = 0; i < lengths.length; i++) {
            // streamed in uneven pieces, to exercise the block buffering
            cmac.init(key);
            int done = 0;
            int step = 1;
            while (done < lengths[i]) {
                int n = Math.min(step, lengths[i] - done);
                cmac.update(msg, (short) done, (short) n);
                done += n;
                step = step * 2 + 1;
            }
            cmac.doFinal(out, (short) 0);
            String got = hex(out, 0, 16);
            System.out.println("cmac " + lengths[i] + " " + (got.equals(tags[i]) ? "ok" : "BAD " + got));
        }
        for (int len = 0; len <= 64; len++) {
            cmac.init(key);
            cmac.update(msg, (short) 0, (short) len);
            cmac.doFinal(out, (short) 0);
            System.out.println("sweep " + len + " " + hex(out, 0, 16));
        }
        byte[] ctx = "context".getBytes();
        Kdf.derive(cmac, key, new byte[] {'B', 'E', 'N', 'C'}, ctx, (short) 0, (short) ctx.length, out, (short) 0);
        System.out.println("kdf " + hex(out, 0, 16));

        // The one-shot raw-key path with an AES-256 key (SP 800-38B examples 9-12) and Kdf256 on top of it.
        byte[] key256 = hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
        for (int len : lengths) {
            cmac.mac(key256, (short) 0, msg, (short) 0, (short) len, out, (short) 0);
            System.out.println("cmac256 " + len + " " + hex(out, 0, 16));
        }
        byte[] out32 = new byte[32];
        new Kdf256(cmac).derive(key256, (short) 0, Kdf256.LABEL_ENC, msg, (short) 0, (short) 8, out32, (short) 0);
        System.out.println("kdf256 " + hex(out32, 0, 32));
    }
}
