package cardsmith.applet;

import javacard.framework.ISOException;
import javacard.framework.JCSystem;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.KeyBuilder;
import javacardx.crypto.Cipher;

/**
 * Capability "backup": encrypted backup and restore of the data area, full and differential by page
 * (docs/backup.md), and the card-common key that lets a backup go onto another card of the family. The
 * data commands are DataAccess's. The patent's three-step sessions (BACKUP / TRANSFER / COMPLETE,
 * RESTORE / TRANSFER / COMPLETE) with the holes closed: every record is encrypt-then-MAC with a MAC chain
 * from the header MAC to a final MAC, restores verify the whole backup before writing a byte, and chains
 * of differentials are checked on the card.
 */
final class Backup implements Capability {
    // ---- header layout (Proto.BACKUP_HEADER_LENGTH bytes)
    static final short H_MAGIC = 0;
    static final short H_TYPE = 4;
    static final short H_KVER = 5;
    static final short H_CARD = 6;
    static final short H_SEQ = 14;
    static final short H_PSIZE = 18;
    static final short H_PCOUNT = 20;
    static final short H_RECS = 22;
    static final short H_PAGES = 24;
    static final short H_PREV = 26;
    static final short H_WRAP = 58; // IV (16), E(K_unique) (16), MAC (16)
    static final short H_CTRL = 106; // IV (16), E(control) (CTRL_LEN)
    static final short H_MAC = 266;
    static final short CTRL_LEN = 144; // card id 8, seq 4, type 1, page count 2, prev 32, regions 1, table 96
    static final short HASH_LEN = 32;
    static final short MAC_LEN = 16;
    /** Record: index (2), flags (1), n (1), pages (2n), IV (16), ciphertext (n * page size), MAC (16). */
    static final short REC_FIXED = 4 + 16 + 16;
    static final byte REC_LAST = 0x01;

    static final byte[] MAGIC = {'C', 'S', 'B', '1'};
    private static final byte[] L_ENC = {'B', 'E', 'N', 'C'};
    private static final byte[] L_MAC = {'B', 'M', 'A', 'C'};
    static final byte[] L_WENC = {'W', 'E', 'N', 'C'};
    static final byte[] L_WMAC = {'W', 'M', 'A', 'C'};

    // ---- persistent state (st), written through Tx
    static final short S_FLAGS = 0;
    static final short S_KVER = 1;
    static final short S_NEXT_SEQ = 2;
    static final short S_LAST_SEQ = 6;
    static final short S_LAST_HASH = 10;
    static final short S_RCHAIN_SRC = 42;
    static final short S_RCHAIN_HASH = 50;
    static final short S_PENDING_HASH = 82;
    static final short S_SIZE = 114;
    /** Internal S_FLAGS bit: the restore chain (S_RCHAIN_*) names what the data area holds. */
    static final byte F_RCHAIN = 0x10;
    /** Internal S_FLAGS bit: which of the two common-key slots holds the key S_KVER names. */
    static final byte F_KSLOT = 0x20;

    // ---- session state (ses, transient: dies with a reset or deselect)
    static final short X_MODE = 0;
    static final short X_TYPE = 1;
    static final short X_CURSOR = 2;
    static final short X_REC = 4;
    static final short X_RECS = 6;
    static final short X_PAGES = 8;
    static final short X_DONE = 10;
    static final short X_SEQ = 12;
    static final short X_SRC = 16;
    static final short X_CHAIN = 24;
    static final short X_HMAC = 40;
    static final short X_PREV = 56;
    static final short X_HASH = 88;
    static final short X_FINAL = 120;
    static final short X_NEXT_PAGE = 136;
    static final short X_STARTED = 138;
    static final short X_ADOPT = 139;
    static final short X_TABLE = 140;
    static final short X_SIZE = 236;

    static final byte M_NONE = 0;
    static final byte M_BACKUP = 1;
    static final byte M_BACKUP_SENT = 2;
    static final byte M_VERIFY = 3;
    static final byte M_APPLY = 4;
    static final byte M_APPLIED = 5;

    private static final byte END_COMPLETE = 1;
    private static final byte END_ABORT = 2;
    private static final byte END_DISCARD = 3;

    final CardsmithApplet applet;
    final DataArea area;
    final Cmac cmac;
    final byte[] st;
    final byte[] ses;
    final byte[] scratch;
    final AESKey kUnique;
    /**
     * The common key in two slots: F_KSLOT names the one in use, LOAD_COMMON_KEY writes the other and then
     * switches F_KSLOT, S_KVER and the flag in one transaction. Key objects are not promised to roll back
     * with a transaction, so the slot in use is never written: after a tear anywhere, the version and flag
     * name the key they were committed with.
     */
    private final AESKey[] kCommon;
    final AESKey kEnc;
    final AESKey kMac;
    final AESKey kTmp;
    private final Restore restore;

    Backup(CardsmithApplet applet) {
        this.applet = applet;
        area = applet.dataArea();
        cmac = new Cmac(applet.algorithms());
        st = new byte[S_SIZE];
        ses = JCSystem.makeTransientByteArray(X_SIZE, JCSystem.CLEAR_ON_DESELECT);
        scratch = JCSystem.makeTransientByteArray((short) 64, JCSystem.CLEAR_ON_DESELECT);
        kUnique = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_128, false);
        kCommon = new AESKey[2];
        kCommon[0] = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_128, false);
        kCommon[1] = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_128, false);
        kEnc = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES_TRANSIENT_DESELECT, KeyBuilder.LENGTH_AES_128, false);
        kMac = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES_TRANSIENT_DESELECT, KeyBuilder.LENGTH_AES_128, false);
        kTmp = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES_TRANSIENT_DESELECT, KeyBuilder.LENGTH_AES_128, false);
        applet.algorithms().random().generateData(scratch, (short) 0, (short) 16);
        kUnique.setKey(scratch, (short) 0);
        Util.arrayFillNonAtomic(scratch, (short) 0, (short) 16, (byte) 0);
        restore = new Restore(this);
    }

    public short dispatch(byte ins, byte p1, byte p2, byte[] in, short off, short len) {
        switch (ins) {
            case Proto.INS_LOAD_COMMON_KEY:
                CardsmithApplet.requireP1P2(p1, p2);
                return loadCommonKey(in, off, len);
            case Proto.INS_BACKUP:
                if (p2 != 0 || (p1 != Proto.BACKUP_TYPE_FULL && p1 != Proto.BACKUP_TYPE_DIFF)) {
                    ISOException.throwIt(Proto.SW_INCORRECT_P1P2);
                }
                requireLength(len, (short) 0);
                return beginBackup(p1);
            case Proto.INS_RESTORE:
                if (p2 != 0 || (p1 != 0 && p1 != 1)) {
                    ISOException.throwIt(Proto.SW_INCORRECT_P1P2);
                }
                return restore.begin(p1 == 1, in, off, len);
            case Proto.INS_TRANSFER:
                CardsmithApplet.requireP1P2(p1, p2);
                if (ses[X_MODE] == M_BACKUP) {
                    requireLength(len, (short) 0);
                    return nextRecord();
                }
                if (ses[X_MODE] == M_VERIFY || ses[X_MODE] == M_APPLY) {
                    try {
                        return restore.takeRecord(in, off, len);
                    } catch (ISOException e) {
                        closeSession(); // a refused record ends the restore session: start again
                        throw e;
                    }
                }
                ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
                return 0;
            case Proto.INS_END_SESSION:
                if (p2 != 0) {
                    ISOException.throwIt(Proto.SW_INCORRECT_P1P2);
                }
                requireLength(len, (short) 0);
                return end(p1);
            default:
                ISOException.throwIt(Proto.SW_INS_NOT_SUPPORTED);
                return 0;
        }
    }

    static void requireLength(short len, short want) {
        if (len != want) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
    }

    /** Whether a backup or restore session is open (DataAccess refuses writes meanwhile). */
    boolean sessionOpen() {
        return ses[X_MODE] != M_NONE;
    }

    boolean flag(byte f) {
        return (st[S_FLAGS] & f) != 0;
    }

    void setFlag(byte f, boolean on) {
        byte v = on ? (byte) (st[S_FLAGS] | f) : (byte) (st[S_FLAGS] & (byte) ~f);
        if (v != st[S_FLAGS]) {
            Tx.setByte(st, S_FLAGS, v);
        }
    }

    /**
     * DataAccess wrote region data: it no longer equals the last restored backup, so a differential must
     * not go on top of it.
     */
    void dataChanged() {
        if (flag(F_RCHAIN)) {
            Tx.begin();
            setFlag(F_RCHAIN, false);
            Tx.commit();
        }
    }

    // ---------------------------------------------------------------- common key, CLEAR, GET INFO

    private short loadCommonKey(byte[] in, short off, short len) {
        requireLength(len, (short) (1 + Proto.COMMON_KEY_LENGTH));
        if (in[off] == 0) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        boolean slot = flag(F_KSLOT);
        kCommon[slot ? 0 : 1].setKey(in, (short) (off + 1)); // the slot not in use: a tear here changes nothing
        Faults.point();
        Tx.begin();
        Tx.setByte(st, S_KVER, in[off]);
        Faults.point(); // a tear inside the transaction: the version rolls back, the key it names is untouched
        setFlag(Proto.BACKUP_STATE_COMMON_KEY, true);
        setFlag(F_KSLOT, !slot);
        Tx.commit();
        return 0;
    }

    private AESKey commonKey() {
        return kCommon[flag(F_KSLOT) ? 1 : 0];
    }

    /**
     * CLEAR_BUNDLE: no session, no common key, no chain: the data area is wiped (DataAccess.clear), so
     * neither a differential on top of the old chain nor an unfinished restore means anything any more. The
     * backup sequence counters stay (they only ever grow, so old backups never replay).
     */
    public void clear() {
        closeSession();
        Tx.begin();
        Tx.setByte(st, S_KVER, (byte) 0);
        setFlag((byte) (Proto.BACKUP_STATE_COMMON_KEY | Proto.BACKUP_STATE_CHAIN
                | Proto.BACKUP_STATE_RESTORE_PENDING | F_RCHAIN), false);
        Tx.commit();
        // after the commit: no flag names either slot any more (a tear before the wipes leaves key bytes
        // nothing uses; the next CLEAR wipes them)
        kCommon[0].clearKey();
        kCommon[1].clearKey();
    }

    /** A backup or restore session is open. */
    public boolean busy() {
        return sessionOpen();
    }

    /** The INFO_BACKUP TLV for GET INFO. */
    public short putInfo(byte[] out, short off) {
        off = Tlv.putHeader(out, off, Proto.TAG_INFO_BACKUP, (short) 8);
        byte f = (byte) (st[S_FLAGS] & (Proto.BACKUP_STATE_COMMON_KEY | Proto.BACKUP_STATE_CHAIN
                | Proto.BACKUP_STATE_RESTORE_PENDING));
        if (sessionOpen()) {
            f |= Proto.BACKUP_STATE_SESSION;
        }
        out[off++] = f;
        out[off++] = st[S_KVER];
        off = Util.arrayCopyNonAtomic(st, S_LAST_SEQ, out, off, (short) 4);
        return Util.setShort(out, off, area.dirtyCount());
    }

    // ---------------------------------------------------------------- crypto helpers

    /** Pages per record: as many as fit the response buffer with the record's overhead and final MAC. */
    short pagesPerRecord() {
        return (short) ((short) (Proto.RESPONSE_BUFFER_SIZE - REC_FIXED - MAC_LEN) / (short) (area.pageSize() + 2));
    }

    /** Session keys K_enc, K_mac from the (own or unwrapped) unique key, bound to source card id and seq. */
    void deriveSessionKeys(AESKey unique, byte[] src, short srcOff, byte[] seq, short seqOff) {
        Util.arrayCopyNonAtomic(src, srcOff, scratch, (short) 32, (short) 8);
        Util.arrayCopyNonAtomic(seq, seqOff, scratch, (short) 40, (short) 4);
        Kdf.derive(cmac, unique, L_ENC, scratch, (short) 32, (short) 12, scratch, (short) 0);
        Kdf.derive(cmac, unique, L_MAC, scratch, (short) 32, (short) 12, scratch, (short) 16);
        kEnc.setKey(scratch, (short) 0);
        kMac.setKey(scratch, (short) 16);
        Util.arrayFillNonAtomic(scratch, (short) 0, (short) 64, (byte) 0);
    }

    /** Loads kTmp with the wrapping key (label WENC or WMAC) for key version kver and source card id. */
    void wrapKey(byte[] label, byte kver, byte[] src, short srcOff) {
        scratch[32] = kver;
        Util.arrayCopyNonAtomic(src, srcOff, scratch, (short) 33, (short) 8);
        Kdf.derive(cmac, commonKey(), label, scratch, (short) 32, (short) 9, scratch, (short) 0);
        kTmp.setKey(scratch, (short) 0);
        Util.arrayFillNonAtomic(scratch, (short) 0, (short) 64, (byte) 0);
    }

    void cbc(AESKey key, byte mode, byte[] buf, short ivOff, short dataOff, short len, byte[] out, short outOff) {
        Cipher c = applet.algorithms().aesCbc();
        c.init(key, mode, buf, ivOff, (short) 16);
        c.doFinal(buf, dataOff, len, out, outOff);
    }

    private void random(byte[] buf, short off, short len) {
        applet.algorithms().random().generateData(buf, off, len);
    }

    private static void increment(byte[] b, short off, short len) {
        for (short i = (short) (off + len - 1); i >= off; i--) {
            b[i]++;
            if (b[i] != 0) {
                return;
            }
        }
    }

    // ---------------------------------------------------------------- backup

    private short beginBackup(byte type) {
        if (sessionOpen() || flag(Proto.BACKUP_STATE_RESTORE_PENDING) || !flag(Proto.BACKUP_STATE_COMMON_KEY)
                || (type == Proto.BACKUP_TYPE_DIFF && !flag(Proto.BACKUP_STATE_CHAIN))) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
        }
        short pages = type == Proto.BACKUP_TYPE_FULL ? area.pageCount() : area.dirtyCount();
        if (pages == 0) {
            ISOException.throwIt(Proto.SW_DATA_NOT_FOUND); // nothing changed since the last backup
        }
        short g = pagesPerRecord();
        short recs = (short) ((short) (pages + g - 1) / g);

        byte[] h = applet.responseBuffer();
        Util.arrayCopyNonAtomic(st, S_NEXT_SEQ, h, H_SEQ, (short) 4);
        increment(h, H_SEQ, (short) 4);
        Tx.begin();
        Tx.copy(h, H_SEQ, st, S_NEXT_SEQ, (short) 4);
        Tx.commit();
        Faults.point();

        byte[] id = applet.cardId();
        Util.arrayCopyNonAtomic(MAGIC, (short) 0, h, H_MAGIC, (short) 4);
        h[H_TYPE] = type;
        h[H_KVER] = st[S_KVER];
        Util.arrayCopyNonAtomic(id, (short) 0, h, H_CARD, (short) 8);
        Util.setShort(h, H_PSIZE, area.pageSize());
        Util.setShort(h, H_PCOUNT, area.pageCount());
        Util.setShort(h, H_RECS, recs);
        Util.setShort(h, H_PAGES, pages);
        if (type == Proto.BACKUP_TYPE_DIFF) {
            Util.arrayCopyNonAtomic(st, S_LAST_HASH, h, H_PREV, HASH_LEN);
        } else {
            Util.arrayFillNonAtomic(h, H_PREV, HASH_LEN, (byte) 0);
        }
        deriveSessionKeys(kUnique, id, (short) 0, h, H_SEQ);
        sealHeader(h, type);

        Util.arrayFillNonAtomic(ses, (short) 0, X_SIZE, (byte) 0);
        ses[X_TYPE] = type;
        Util.setShort(ses, X_RECS, recs);
        Util.setShort(ses, X_PAGES, pages);
        Util.arrayCopyNonAtomic(h, H_SEQ, ses, X_SEQ, (short) 4);
        Util.arrayCopyNonAtomic(h, H_MAC, ses, X_CHAIN, MAC_LEN);
        Util.arrayCopyNonAtomic(h, H_MAC, ses, X_HMAC, MAC_LEN);
        ses[X_MODE] = M_BACKUP;
        return Proto.BACKUP_HEADER_LENGTH;
    }

    /**
     * Completes header h (clear fields written): the wrapped unique key, the encrypted control information
     * and the header MAC.
     */
    private void sealHeader(byte[] h, byte type) {
        byte[] id = applet.cardId();
        // wrapped unique key: IV, E_wenc(K_unique), CMAC_wmac(IV || ciphertext)
        wrapKey(L_WENC, st[S_KVER], id, (short) 0);
        random(h, H_WRAP, (short) 16);
        kUnique.getKey(h, (short) (H_WRAP + 16));
        cbc(kTmp, Cipher.MODE_ENCRYPT, h, H_WRAP, (short) (H_WRAP + 16), (short) 16, h, (short) (H_WRAP + 16));
        wrapKey(L_WMAC, st[S_KVER], id, (short) 0);
        cmac.init(kTmp);
        cmac.update(h, H_WRAP, (short) 32);
        cmac.doFinal(h, (short) (H_WRAP + 32));
        kTmp.clearKey();

        // encrypted control information
        short c = (short) (H_CTRL + 16);
        Util.arrayCopyNonAtomic(id, (short) 0, h, c, (short) 8);
        Util.arrayCopyNonAtomic(h, H_SEQ, h, (short) (c + 8), (short) 4);
        h[(short) (c + 12)] = type;
        Util.setShort(h, (short) (c + 13), area.pageCount());
        Util.arrayCopyNonAtomic(h, H_PREV, h, (short) (c + 15), HASH_LEN);
        h[(short) (c + 47)] = (byte) area.regionCount();
        Util.arrayCopyNonAtomic(area.regionTable(), (short) 0, h, (short) (c + 48), (short) 96);
        random(h, H_CTRL, (short) 16);
        cbc(kEnc, Cipher.MODE_ENCRYPT, h, H_CTRL, c, CTRL_LEN, h, c);

        cmac.init(kMac);
        cmac.updateByte((byte) 'H');
        cmac.update(h, (short) 0, H_MAC);
        cmac.doFinal(h, H_MAC);
    }

    /** TRANSFER in a backup session: the next record (and the final MAC after the last). */
    private short nextRecord() {
        byte[] r = applet.responseBuffer();
        short rec = Util.getShort(ses, X_REC);
        short recs = Util.getShort(ses, X_RECS);
        short left = (short) (Util.getShort(ses, X_PAGES) - Util.getShort(ses, X_DONE));
        short n = pagesPerRecord();
        if (n > left) {
            n = left;
        }
        boolean last = (short) (rec + 1) == recs;
        short ps = area.pageSize();
        Util.setShort(r, (short) 0, rec);
        r[2] = last ? REC_LAST : 0;
        r[3] = (byte) n;
        short iv = (short) (4 + 2 * n);
        short ct = (short) (iv + 16);
        short page = Util.getShort(ses, X_CURSOR);
        boolean full = ses[X_TYPE] == Proto.BACKUP_TYPE_FULL;
        for (short i = 0; i < n; i++) {
            while (!full && !area.isDirty(page)) {
                page++;
            }
            Util.setShort(r, (short) (4 + 2 * i), page);
            Util.arrayCopyNonAtomic(area.segmentOf(page), area.offsetOf(page), r, (short) (ct + i * ps), ps);
            page++;
        }
        Util.setShort(ses, X_CURSOR, page);
        random(r, iv, (short) 16);
        short ctLen = (short) (n * ps);
        cbc(kEnc, Cipher.MODE_ENCRYPT, r, iv, ct, ctLen, r, ct);
        short mac = (short) (ct + ctLen);
        cmac.init(kMac);
        cmac.updateByte((byte) 'R');
        cmac.update(ses, X_CHAIN, MAC_LEN);
        cmac.update(r, (short) 0, mac);
        short end = cmac.doFinal(r, mac);
        Util.arrayCopyNonAtomic(r, mac, ses, X_CHAIN, MAC_LEN);
        Util.setShort(ses, X_REC, (short) (rec + 1));
        Util.setShort(ses, X_DONE, (short) (Util.getShort(ses, X_DONE) + n));
        if (last) {
            end = finalMac(r, end);
            backupHash(r, (short) (end - MAC_LEN));
            ses[X_MODE] = M_BACKUP_SENT;
        }
        return end;
    }

    /** Writes CMAC_mac('F' || last record MAC || record count || page count) at out[off]; returns off + 16. */
    short finalMac(byte[] out, short off) {
        cmac.init(kMac);
        cmac.updateByte((byte) 'F');
        cmac.update(ses, X_CHAIN, MAC_LEN);
        cmac.update(ses, X_RECS, (short) 2);
        cmac.update(ses, X_PAGES, (short) 2);
        return cmac.doFinal(out, off);
    }

    /** X_HASH = SHA-256(header MAC || final MAC at buf[finalOff]): the backup's chain hash. */
    void backupHash(byte[] buf, short finalOff) {
        Util.arrayCopyNonAtomic(ses, X_HMAC, scratch, (short) 0, MAC_LEN);
        Util.arrayCopyNonAtomic(buf, finalOff, scratch, MAC_LEN, MAC_LEN);
        applet.algorithms().sha256().doFinal(scratch, (short) 0, (short) 32, ses, X_HASH);
        Util.arrayCopyNonAtomic(buf, finalOff, ses, X_FINAL, MAC_LEN);
    }

    // ---------------------------------------------------------------- COMPLETE, ABORT, DISCARD

    private short end(byte p1) {
        byte mode = ses[X_MODE];
        if (p1 == END_ABORT) {
            if (mode == M_NONE) {
                ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
            }
            closeSession();
            return 0;
        }
        if (p1 == END_DISCARD) {
            if (mode != M_NONE || !flag(Proto.BACKUP_STATE_RESTORE_PENDING)) {
                ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
            }
            restore.discard();
            return 0;
        }
        if (p1 != END_COMPLETE) {
            ISOException.throwIt(Proto.SW_INCORRECT_P1P2);
        }
        if (mode == M_BACKUP_SENT) {
            Tx.begin();
            area.clearDirty();
            Tx.copy(ses, X_SEQ, st, S_LAST_SEQ, (short) 4);
            Tx.copy(ses, X_HASH, st, S_LAST_HASH, HASH_LEN);
            setFlag(Proto.BACKUP_STATE_CHAIN, true);
            Faults.point();
            Tx.commit();
            Faults.point();
            closeSession();
            return 0;
        }
        if (mode == M_APPLIED) {
            restore.complete();
            return 0;
        }
        ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
        return 0;
    }

    void closeSession() {
        Util.arrayFillNonAtomic(ses, (short) 0, X_SIZE, (byte) 0);
        kEnc.clearKey();
        kMac.clearKey();
        kTmp.clearKey();
    }

}
