package cardsmith.applet;

import javacard.framework.ISOException;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacardx.crypto.Cipher;
import static cardsmith.applet.Backup.*;

/**
 * The restore half of capability "backup" (docs/backup.md): RESTORE's header checks, TRANSFER's record
 * checks in the verify pass and the writes of the apply pass, COMPLETE of a restore and DISCARD of an
 * unfinished one. Backup owns the state (st, ses), the keys and the commands; this class works on them.
 */
final class Restore {
    private final Backup b;
    private final CardsmithApplet applet;
    private final DataArea area;
    private final Cmac cmac;
    private final byte[] st;
    private final byte[] ses;
    private final byte[] scratch;

    Restore(Backup backup) {
        b = backup;
        applet = backup.applet;
        area = backup.area;
        cmac = backup.cmac;
        st = backup.st;
        ses = backup.ses;
        scratch = backup.scratch;
    }

    /**
     * RESTORE: checks the card id (or the appended target id, the family key version and the wrapped key
     * of the source card), the header MAC and the control information, then opens the verify pass.
     */
    short begin(boolean other, byte[] in, short off, short len) {
        if (b.sessionOpen()) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
        }
        byte[] id = applet.cardId();
        if (other) {
            b.requireLength(len, (short) (8 + Proto.BACKUP_HEADER_LENGTH));
            if (Util.arrayCompare(in, off, id, (short) 0, (short) 8) != 0) {
                ISOException.throwIt(Proto.SW_WRONG_DATA); // the host prepared it for another card
            }
            off += 8;
            applet.requireRestorableFrom(in, (short) (off + H_CARD)); // blank, the same source, or replace
        } else {
            b.requireLength(len, Proto.BACKUP_HEADER_LENGTH);
        }
        short type = in[(short) (off + H_TYPE)];
        short recs = Util.getShort(in, (short) (off + H_RECS));
        short pages = Util.getShort(in, (short) (off + H_PAGES));
        if (Util.arrayCompare(in, off, MAGIC, (short) 0, (short) 4) != 0
                || (type != Proto.BACKUP_TYPE_FULL && type != Proto.BACKUP_TYPE_DIFF)
                || Util.getShort(in, (short) (off + H_PSIZE)) != area.pageSize()
                || Util.getShort(in, (short) (off + H_PCOUNT)) != area.pageCount()
                || recs < 1 || pages < recs || pages > area.pageCount()
                || (type == Proto.BACKUP_TYPE_FULL && pages != area.pageCount())) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        AESKey unique = b.kUnique;
        if (other) {
            unique = unwrapSourceKey(in, off);
        } else if (Util.arrayCompare(in, (short) (off + H_CARD), id, (short) 0, (short) 8) != 0) {
            ISOException.throwIt(Proto.SW_WRONG_DATA); // a backup of another card
        }
        b.deriveSessionKeys(unique, in, (short) (off + H_CARD), in, (short) (off + H_SEQ));
        b.kTmp.clearKey();
        checkHeaderMacAndControl(in, off, type);
        open(in, off, type, recs, pages);
        if (other) {
            applet.noteRestoredFrom(in, (short) (off + H_CARD)); // a genuine backup of that card
        }
        return 0;
    }

    /** Another card's backup: its unique key, unwrapped with the common key into kTmp (6A80 if foreign). */
    private AESKey unwrapSourceKey(byte[] in, short off) {
        if (!b.flag(Proto.BACKUP_STATE_COMMON_KEY) || in[(short) (off + H_KVER)] != st[S_KVER]) {
            ISOException.throwIt(Proto.SW_WRONG_DATA); // another family or key version
        }
        short w = (short) (off + H_WRAP);
        b.wrapKey(L_WMAC, st[S_KVER], in, (short) (off + H_CARD));
        cmac.init(b.kTmp);
        cmac.update(in, w, (short) 32);
        cmac.doFinal(scratch, (short) 48);
        if (!Bytes.equalsConstantTime(scratch, (short) 48, in, (short) (w + 32), MAC_LEN)) {
            b.kTmp.clearKey();
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        b.wrapKey(L_WENC, st[S_KVER], in, (short) (off + H_CARD));
        b.cbc(b.kTmp, Cipher.MODE_DECRYPT, in, w, (short) (w + 16), (short) 16, scratch, (short) 48);
        b.kTmp.setKey(scratch, (short) 48);
        Util.arrayFillNonAtomic(scratch, (short) 48, (short) 16, (byte) 0);
        return b.kTmp;
    }

    /** The header MAC under the session keys; the control information must repeat the clear fields. */
    private void checkHeaderMacAndControl(byte[] in, short off, short type) {
        byte[] r = applet.responseBuffer();
        cmac.init(b.kMac);
        cmac.updateByte((byte) 'H');
        cmac.update(in, off, H_MAC);
        cmac.doFinal(r, (short) 0);
        if (!Bytes.equalsConstantTime(r, (short) 0, in, (short) (off + H_MAC), MAC_LEN)) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        // control information: must repeat the clear header fields; carries the region table
        b.cbc(b.kEnc, Cipher.MODE_DECRYPT, in, (short) (off + H_CTRL), (short) (off + H_CTRL + 16), CTRL_LEN, r, (short) 0);
        if (Util.arrayCompare(r, (short) 0, in, (short) (off + H_CARD), (short) 8) != 0
                || Util.arrayCompare(r, (short) 8, in, (short) (off + H_SEQ), (short) 4) != 0
                || r[12] != (byte) type
                || Util.getShort(r, (short) 13) != area.pageCount()
                || Util.arrayCompare(r, (short) 15, in, (short) (off + H_PREV), HASH_LEN) != 0) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
    }

    /** Opens the verify pass (the decrypted control information is in the response buffer). */
    private void open(byte[] in, short off, short type, short recs, short pages) {
        byte[] r = applet.responseBuffer();
        boolean adopt = area.regionCount() == 0;
        if (!adopt && !area.sameLayout(r, (short) 48)) {
            ISOException.throwIt(Proto.SW_WRONG_DATA); // the region tables differ
        }
        Util.arrayFillNonAtomic(ses, (short) 0, X_SIZE, (byte) 0);
        Util.arrayCopyNonAtomic(r, (short) 48, ses, X_TABLE, (short) 96);
        ses[X_ADOPT] = adopt ? (byte) 1 : (byte) 0;
        ses[X_TYPE] = (byte) type;
        Util.setShort(ses, X_RECS, recs);
        Util.setShort(ses, X_PAGES, pages);
        Util.arrayCopyNonAtomic(in, (short) (off + H_SEQ), ses, X_SEQ, (short) 4);
        Util.arrayCopyNonAtomic(in, (short) (off + H_CARD), ses, X_SRC, (short) 8);
        Util.arrayCopyNonAtomic(in, (short) (off + H_PREV), ses, X_PREV, HASH_LEN);
        Util.arrayCopyNonAtomic(in, (short) (off + H_MAC), ses, X_HMAC, MAC_LEN);
        Util.arrayCopyNonAtomic(in, (short) (off + H_MAC), ses, X_CHAIN, MAC_LEN);
        ses[X_MODE] = M_VERIFY;
    }

    /** TRANSFER in a restore session: checks one record; in the apply pass, also writes its pages. */
    short takeRecord(byte[] in, short off, short len) {
        short rec = Util.getShort(ses, X_REC);
        short recs = Util.getShort(ses, X_RECS);
        boolean last = (short) (rec + 1) == recs;
        short ps = area.pageSize();
        if (len < 4) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        short n = (short) (in[(short) (off + 3)] & 0xFF);
        short ctLen = (short) (n * ps);
        short iv = (short) (4 + 2 * n);
        short mac = (short) (iv + 16 + ctLen);
        short want = (short) (mac + MAC_LEN + (last ? MAC_LEN : 0));
        if (Util.getShort(in, off) != rec || in[(short) (off + 2)] != (last ? REC_LAST : 0) || n < 1
                || n > b.pagesPerRecord() || len != want
                || (short) (Util.getShort(ses, X_DONE) + n) > Util.getShort(ses, X_PAGES)) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        short next = checkPages(in, off, n);
        checkMacs(in, off, n, mac, last);
        byte[] r = applet.responseBuffer();
        if (ses[X_MODE] == M_APPLY) {
            if (last && !Bytes.equalsConstantTime(r, (short) 0, ses, X_FINAL, MAC_LEN)) {
                ISOException.throwIt(Proto.SW_WRONG_DATA); // not the backup verified in the first pass
            }
            applyPages(in, off, n, iv, ctLen);
        }
        Util.arrayCopyNonAtomic(in, (short) (off + mac), ses, X_CHAIN, MAC_LEN);
        Util.setShort(ses, X_NEXT_PAGE, next);
        Util.setShort(ses, X_DONE, (short) (Util.getShort(ses, X_DONE) + n));
        Util.setShort(ses, X_REC, (short) (rec + 1));
        return step(last);
    }

    /** The record's page indices, ascending across the restore and inside the area; returns the next. */
    private short checkPages(byte[] in, short off, short n) {
        short next = Util.getShort(ses, X_NEXT_PAGE);
        for (short i = 0; i < n; i++) {
            short p = Util.getShort(in, (short) (off + 4 + 2 * i));
            if (p < next || p >= area.pageCount()) {
                ISOException.throwIt(Proto.SW_WRONG_DATA);
            }
            next = (short) (p + 1);
        }
        return next;
    }

    /**
     * The record MAC (chained to the previous one) and, after the last record, the final MAC, which is left
     * in the response buffer at 0.
     */
    private void checkMacs(byte[] in, short off, short n, short mac, boolean last) {
        byte[] r = applet.responseBuffer();
        cmac.init(b.kMac);
        cmac.updateByte((byte) 'R');
        cmac.update(ses, X_CHAIN, MAC_LEN);
        cmac.update(in, off, mac);
        cmac.doFinal(r, (short) 0);
        if (!Bytes.equalsConstantTime(r, (short) 0, in, (short) (off + mac), MAC_LEN)) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        if (last) {
            if ((short) (Util.getShort(ses, X_DONE) + n) != Util.getShort(ses, X_PAGES)) {
                ISOException.throwIt(Proto.SW_WRONG_DATA);
            }
            Util.arrayCopyNonAtomic(in, (short) (off + mac), ses, X_CHAIN, MAC_LEN);
            b.finalMac(r, (short) 0);
            if (!Bytes.equalsConstantTime(r, (short) 0, in, (short) (off + mac + MAC_LEN), MAC_LEN)) {
                ISOException.throwIt(Proto.SW_WRONG_DATA);
            }
        }
    }

    /**
     * TRANSFER's answer after an accepted record; the end of the verify pass checks the chain and opens
     * the apply pass.
     */
    private short step(boolean last) {
        byte[] r = applet.responseBuffer();
        if (!last) {
            r[0] = Proto.RESTORE_STEP_MORE;
            return 1;
        }
        if (ses[X_MODE] == M_APPLY) {
            ses[X_MODE] = M_APPLIED;
            r[0] = Proto.RESTORE_STEP_APPLIED;
            return 1;
        }
        // verified: check the chain on the card, then start the apply pass
        b.backupHash(r, (short) 0);
        checkChain();
        Util.setShort(ses, X_REC, (short) 0);
        Util.setShort(ses, X_DONE, (short) 0);
        Util.setShort(ses, X_NEXT_PAGE, (short) 0);
        Util.arrayCopyNonAtomic(ses, X_HMAC, ses, X_CHAIN, MAC_LEN);
        ses[X_MODE] = M_APPLY;
        r[0] = Proto.RESTORE_STEP_VERIFIED;
        return 1;
    }

    /**
     * A differential goes only on top of the backup it names, restored last and untouched since. While a
     * restore is unfinished, only a full backup or the same backup again may finish it.
     */
    private void checkChain() {
        boolean pending = b.flag(Proto.BACKUP_STATE_RESTORE_PENDING);
        if (pending && Bytes.equalsConstantTime(ses, X_HASH, st, S_PENDING_HASH, HASH_LEN)) {
            return;
        }
        if (ses[X_TYPE] == Proto.BACKUP_TYPE_FULL) {
            return;
        }
        if (pending || !b.flag(F_RCHAIN)
                || Util.arrayCompare(ses, X_SRC, st, S_RCHAIN_SRC, (short) 8) != 0
                || !Bytes.equalsConstantTime(ses, X_PREV, st, S_RCHAIN_HASH, HASH_LEN)) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
    }

    private void applyPages(byte[] in, short off, short n, short iv, short ctLen) {
        byte[] r = applet.responseBuffer();
        b.cbc(b.kEnc, Cipher.MODE_DECRYPT, in, (short) (off + iv), (short) (off + iv + 16), ctLen, r, (short) 0);
        short ps = area.pageSize();
        for (short i = 0; i < n; i++) {
            short p = Util.getShort(in, (short) (off + 4 + 2 * i));
            Tx.begin();
            if (ses[X_STARTED] == 0) {
                // first write of this restore: from here the card says a restore is unfinished
                b.setFlag(Proto.BACKUP_STATE_RESTORE_PENDING, true);
                b.setFlag(F_RCHAIN, false);
                Tx.copy(ses, X_HASH, st, S_PENDING_HASH, HASH_LEN);
                if (ses[X_ADOPT] != 0) {
                    area.adoptTable(ses, X_TABLE);
                }
            }
            short e = area.regionOfPage(p);
            if (e >= 0 && (area.flags(e) & Proto.REGION_FLAG_TOUCHED) == 0) {
                area.setFlags(e, (byte) (area.flags(e) | Proto.REGION_FLAG_TOUCHED));
            }
            Tx.copy(r, (short) (i * ps), area.segmentOf(p), area.offsetOf(p), ps);
            area.markDirty(p);
            Tx.commit();
            ses[X_STARTED] = 1;
            Faults.point();
        }
        Util.arrayFillNonAtomic(r, (short) 0, ctLen, (byte) 0);
    }


    /**
     * END_SESSION COMPLETE of a restore whose records were all applied: restore-executed flags (value
     * regions zero before first use), the restore chain names this backup, the card's own chain ends.
     */
    void complete() {
        byte[] t = area.regionTable();
        Tx.begin();
        for (short e = 0; e < (short) t.length; e += DataArea.ENTRY) {
            byte f = area.flags(e);
            if (t[e] != 0 && (f & Proto.REGION_FLAG_TOUCHED) != 0) {
                f = (byte) ((f & (byte) ~Proto.REGION_FLAG_TOUCHED) | Proto.REGION_FLAG_RESTORED);
                if ((f & Proto.REGION_FLAG_VALUE) != 0) {
                    f |= Proto.REGION_FLAG_ZERO_PENDING;
                }
                area.setFlags(e, f);
            }
        }
        b.setFlag(Proto.BACKUP_STATE_RESTORE_PENDING, false);
        // The data now equals this backup: a differential of the same chain may follow.
        Tx.copy(ses, X_SRC, st, S_RCHAIN_SRC, (short) 8);
        Tx.copy(ses, X_HASH, st, S_RCHAIN_HASH, HASH_LEN);
        b.setFlag(F_RCHAIN, true);
        // The card's own chain no longer describes its data: the next backup must be full.
        b.setFlag(Proto.BACKUP_STATE_CHAIN, false);
        Faults.point();
        Tx.commit();
        Faults.point();
        b.closeSession();
    }

    /** Gives up an unfinished restore: the regions it touched are zeroed (no half-restored data, no value). */
    void discard() {
        byte[] t = area.regionTable();
        short ps = area.pageSize();
        for (short e = 0; e < (short) t.length; e += DataArea.ENTRY) {
            byte f = area.flags(e);
            if (t[e] == 0 || (f & Proto.REGION_FLAG_TOUCHED) == 0) {
                continue;
            }
            short p = area.first(e);
            short endPage = (short) (p + area.pages(e));
            for (; p < endPage; p++) {
                Tx.begin();
                Tx.fill(area.segmentOf(p), area.offsetOf(p), ps, (byte) 0);
                area.markDirty(p);
                Tx.commit();
            }
            Tx.begin();
            area.setFlags(e, (byte) (f & (byte) ~(Proto.REGION_FLAG_TOUCHED | Proto.REGION_FLAG_ZERO_PENDING)));
            Tx.commit();
        }
        Tx.begin();
        b.setFlag(Proto.BACKUP_STATE_RESTORE_PENDING, false);
        b.setFlag(F_RCHAIN, false);
        b.setFlag(Proto.BACKUP_STATE_CHAIN, false);
        Tx.commit();
    }
}
