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

    private static final byte[] MAGIC = {'C', 'S', 'B', '1'};
    private static final byte[] L_ENC = {'B', 'E', 'N', 'C'};
    private static final byte[] L_MAC = {'B', 'M', 'A', 'C'};
    private static final byte[] L_WENC = {'W', 'E', 'N', 'C'};
    private static final byte[] L_WMAC = {'W', 'M', 'A', 'C'};

    // ---- persistent state (st), written through Tx
    private static final short S_FLAGS = 0;
    private static final short S_KVER = 1;
    private static final short S_NEXT_SEQ = 2;
    private static final short S_LAST_SEQ = 6;
    private static final short S_LAST_HASH = 10;
    private static final short S_RCHAIN_SRC = 42;
    private static final short S_RCHAIN_HASH = 50;
    private static final short S_PENDING_HASH = 82;
    private static final short S_SIZE = 114;
    /** Internal S_FLAGS bit: the restore chain (S_RCHAIN_*) names what the data area holds. */
    private static final byte F_RCHAIN = 0x10;

    // ---- session state (ses, transient: dies with a reset or deselect)
    private static final short X_MODE = 0;
    private static final short X_TYPE = 1;
    private static final short X_CURSOR = 2;
    private static final short X_REC = 4;
    private static final short X_RECS = 6;
    private static final short X_PAGES = 8;
    private static final short X_DONE = 10;
    private static final short X_SEQ = 12;
    private static final short X_SRC = 16;
    private static final short X_CHAIN = 24;
    private static final short X_HMAC = 40;
    private static final short X_PREV = 56;
    private static final short X_HASH = 88;
    private static final short X_FINAL = 120;
    private static final short X_NEXT_PAGE = 136;
    private static final short X_STARTED = 138;
    private static final short X_ADOPT = 139;
    private static final short X_TABLE = 140;
    private static final short X_SIZE = 236;

    private static final byte M_NONE = 0;
    private static final byte M_BACKUP = 1;
    private static final byte M_BACKUP_SENT = 2;
    private static final byte M_VERIFY = 3;
    private static final byte M_APPLY = 4;
    private static final byte M_APPLIED = 5;

    private static final byte END_COMPLETE = 1;
    private static final byte END_ABORT = 2;
    private static final byte END_DISCARD = 3;

    private final CardsmithApplet applet;
    private final DataArea area;
    private final Cmac cmac;
    private final byte[] st;
    private final byte[] ses;
    private final byte[] scratch;
    private final AESKey kUnique;
    private final AESKey kCommon;
    private final AESKey kEnc;
    private final AESKey kMac;
    private final AESKey kTmp;

    Backup(CardsmithApplet applet) {
        this.applet = applet;
        area = applet.dataArea();
        cmac = new Cmac(applet.algorithms());
        st = new byte[S_SIZE];
        ses = JCSystem.makeTransientByteArray(X_SIZE, JCSystem.CLEAR_ON_DESELECT);
        scratch = JCSystem.makeTransientByteArray((short) 64, JCSystem.CLEAR_ON_DESELECT);
        kUnique = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_128, false);
        kCommon = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES, KeyBuilder.LENGTH_AES_128, false);
        kEnc = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES_TRANSIENT_DESELECT, KeyBuilder.LENGTH_AES_128, false);
        kMac = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES_TRANSIENT_DESELECT, KeyBuilder.LENGTH_AES_128, false);
        kTmp = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES_TRANSIENT_DESELECT, KeyBuilder.LENGTH_AES_128, false);
        applet.algorithms().random().generateData(scratch, (short) 0, (short) 16);
        kUnique.setKey(scratch, (short) 0);
        Util.arrayFillNonAtomic(scratch, (short) 0, (short) 16, (byte) 0);
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
                return beginRestore(p1 == 1, in, off, len);
            case Proto.INS_TRANSFER:
                CardsmithApplet.requireP1P2(p1, p2);
                if (ses[X_MODE] == M_BACKUP) {
                    requireLength(len, (short) 0);
                    return nextRecord();
                }
                if (ses[X_MODE] == M_VERIFY || ses[X_MODE] == M_APPLY) {
                    try {
                        return takeRecord(in, off, len);
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

    private static void requireLength(short len, short want) {
        if (len != want) {
            ISOException.throwIt(Proto.SW_WRONG_LENGTH);
        }
    }

    /** Whether a backup or restore session is open (DataAccess refuses writes meanwhile). */
    boolean sessionOpen() {
        return ses[X_MODE] != M_NONE;
    }

    private boolean flag(byte f) {
        return (st[S_FLAGS] & f) != 0;
    }

    private void setFlag(byte f, boolean on) {
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
        Tx.begin();
        kCommon.setKey(in, (short) (off + 1));
        Tx.setByte(st, S_KVER, in[off]);
        setFlag(Proto.BACKUP_STATE_COMMON_KEY, true);
        Tx.commit();
        return 0;
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
        kCommon.clearKey();
        Tx.commit();
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
    private short pagesPerRecord() {
        return (short) ((short) (Proto.RESPONSE_BUFFER_SIZE - REC_FIXED - MAC_LEN) / (short) (area.pageSize() + 2));
    }

    /** Session keys K_enc, K_mac from the (own or unwrapped) unique key, bound to source card id and seq. */
    private void deriveSessionKeys(AESKey unique, byte[] src, short srcOff, byte[] seq, short seqOff) {
        Util.arrayCopyNonAtomic(src, srcOff, scratch, (short) 32, (short) 8);
        Util.arrayCopyNonAtomic(seq, seqOff, scratch, (short) 40, (short) 4);
        Kdf.derive(cmac, unique, L_ENC, scratch, (short) 32, (short) 12, scratch, (short) 0);
        Kdf.derive(cmac, unique, L_MAC, scratch, (short) 32, (short) 12, scratch, (short) 16);
        kEnc.setKey(scratch, (short) 0);
        kMac.setKey(scratch, (short) 16);
        Util.arrayFillNonAtomic(scratch, (short) 0, (short) 64, (byte) 0);
    }

    /** Loads kTmp with the wrapping key (label WENC or WMAC) for key version kver and source card id. */
    private void wrapKey(byte[] label, byte kver, byte[] src, short srcOff) {
        scratch[32] = kver;
        Util.arrayCopyNonAtomic(src, srcOff, scratch, (short) 33, (short) 8);
        Kdf.derive(cmac, kCommon, label, scratch, (short) 32, (short) 9, scratch, (short) 0);
        kTmp.setKey(scratch, (short) 0);
        Util.arrayFillNonAtomic(scratch, (short) 0, (short) 64, (byte) 0);
    }

    private void cbc(AESKey key, byte mode, byte[] buf, short ivOff, short dataOff, short len, byte[] out, short outOff) {
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
    private short finalMac(byte[] out, short off) {
        cmac.init(kMac);
        cmac.updateByte((byte) 'F');
        cmac.update(ses, X_CHAIN, MAC_LEN);
        cmac.update(ses, X_RECS, (short) 2);
        cmac.update(ses, X_PAGES, (short) 2);
        return cmac.doFinal(out, off);
    }

    /** X_HASH = SHA-256(header MAC || final MAC at buf[finalOff]): the backup's chain hash. */
    private void backupHash(byte[] buf, short finalOff) {
        Util.arrayCopyNonAtomic(ses, X_HMAC, scratch, (short) 0, MAC_LEN);
        Util.arrayCopyNonAtomic(buf, finalOff, scratch, MAC_LEN, MAC_LEN);
        applet.algorithms().sha256().doFinal(scratch, (short) 0, (short) 32, ses, X_HASH);
        Util.arrayCopyNonAtomic(buf, finalOff, ses, X_FINAL, MAC_LEN);
    }

    // ---------------------------------------------------------------- restore

    private short beginRestore(boolean other, byte[] in, short off, short len) {
        if (sessionOpen()) {
            ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
        }
        byte[] id = applet.cardId();
        if (other) {
            requireLength(len, (short) (8 + Proto.BACKUP_HEADER_LENGTH));
            if (Util.arrayCompare(in, off, id, (short) 0, (short) 8) != 0) {
                ISOException.throwIt(Proto.SW_WRONG_DATA); // the host prepared it for another card
            }
            off += 8;
        } else {
            requireLength(len, Proto.BACKUP_HEADER_LENGTH);
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
        AESKey unique = kUnique;
        if (other) {
            if (!flag(Proto.BACKUP_STATE_COMMON_KEY) || in[(short) (off + H_KVER)] != st[S_KVER]) {
                ISOException.throwIt(Proto.SW_WRONG_DATA); // another family or key version
            }
            short w = (short) (off + H_WRAP);
            wrapKey(L_WMAC, st[S_KVER], in, (short) (off + H_CARD));
            cmac.init(kTmp);
            cmac.update(in, w, (short) 32);
            cmac.doFinal(scratch, (short) 48);
            if (!Bytes.equalsConstantTime(scratch, (short) 48, in, (short) (w + 32), MAC_LEN)) {
                kTmp.clearKey();
                ISOException.throwIt(Proto.SW_WRONG_DATA);
            }
            wrapKey(L_WENC, st[S_KVER], in, (short) (off + H_CARD));
            cbc(kTmp, Cipher.MODE_DECRYPT, in, w, (short) (w + 16), (short) 16, scratch, (short) 48);
            kTmp.setKey(scratch, (short) 48);
            Util.arrayFillNonAtomic(scratch, (short) 48, (short) 16, (byte) 0);
            unique = kTmp;
        } else if (Util.arrayCompare(in, (short) (off + H_CARD), id, (short) 0, (short) 8) != 0) {
            ISOException.throwIt(Proto.SW_WRONG_DATA); // a backup of another card
        }
        deriveSessionKeys(unique, in, (short) (off + H_CARD), in, (short) (off + H_SEQ));
        kTmp.clearKey();

        byte[] r = applet.responseBuffer();
        cmac.init(kMac);
        cmac.updateByte((byte) 'H');
        cmac.update(in, off, H_MAC);
        cmac.doFinal(r, (short) 0);
        if (!Bytes.equalsConstantTime(r, (short) 0, in, (short) (off + H_MAC), MAC_LEN)) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        // control information: must repeat the clear header fields; carries the region table
        cbc(kEnc, Cipher.MODE_DECRYPT, in, (short) (off + H_CTRL), (short) (off + H_CTRL + 16), CTRL_LEN, r, (short) 0);
        if (Util.arrayCompare(r, (short) 0, in, (short) (off + H_CARD), (short) 8) != 0
                || Util.arrayCompare(r, (short) 8, in, (short) (off + H_SEQ), (short) 4) != 0
                || r[12] != (byte) type
                || Util.getShort(r, (short) 13) != area.pageCount()
                || Util.arrayCompare(r, (short) 15, in, (short) (off + H_PREV), HASH_LEN) != 0) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
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
        return 0;
    }

    /** TRANSFER in a restore session: checks one record; in the apply pass, also writes its pages. */
    private short takeRecord(byte[] in, short off, short len) {
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
                || n > pagesPerRecord() || len != want
                || (short) (Util.getShort(ses, X_DONE) + n) > Util.getShort(ses, X_PAGES)) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
        short next = Util.getShort(ses, X_NEXT_PAGE);
        for (short i = 0; i < n; i++) {
            short p = Util.getShort(in, (short) (off + 4 + 2 * i));
            if (p < next || p >= area.pageCount()) {
                ISOException.throwIt(Proto.SW_WRONG_DATA);
            }
            next = (short) (p + 1);
        }
        byte[] r = applet.responseBuffer();
        cmac.init(kMac);
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
            finalMac(r, (short) 0);
            if (!Bytes.equalsConstantTime(r, (short) 0, in, (short) (off + mac + MAC_LEN), MAC_LEN)) {
                ISOException.throwIt(Proto.SW_WRONG_DATA);
            }
        }
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
        backupHash(r, (short) 0);
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
        boolean pending = flag(Proto.BACKUP_STATE_RESTORE_PENDING);
        if (pending && Bytes.equalsConstantTime(ses, X_HASH, st, S_PENDING_HASH, HASH_LEN)) {
            return;
        }
        if (ses[X_TYPE] == Proto.BACKUP_TYPE_FULL) {
            return;
        }
        if (pending || !flag(F_RCHAIN)
                || Util.arrayCompare(ses, X_SRC, st, S_RCHAIN_SRC, (short) 8) != 0
                || !Bytes.equalsConstantTime(ses, X_PREV, st, S_RCHAIN_HASH, HASH_LEN)) {
            ISOException.throwIt(Proto.SW_WRONG_DATA);
        }
    }

    private void applyPages(byte[] in, short off, short n, short iv, short ctLen) {
        byte[] r = applet.responseBuffer();
        cbc(kEnc, Cipher.MODE_DECRYPT, in, (short) (off + iv), (short) (off + iv + 16), ctLen, r, (short) 0);
        short ps = area.pageSize();
        for (short i = 0; i < n; i++) {
            short p = Util.getShort(in, (short) (off + 4 + 2 * i));
            Tx.begin();
            if (ses[X_STARTED] == 0) {
                // first write of this restore: from here the card says a restore is unfinished
                setFlag(Proto.BACKUP_STATE_RESTORE_PENDING, true);
                setFlag(F_RCHAIN, false);
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
            discard();
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
            setFlag(Proto.BACKUP_STATE_RESTORE_PENDING, false);
            // The data now equals this backup: a differential of the same chain may follow.
            Tx.copy(ses, X_SRC, st, S_RCHAIN_SRC, (short) 8);
            Tx.copy(ses, X_HASH, st, S_RCHAIN_HASH, HASH_LEN);
            setFlag(F_RCHAIN, true);
            // The card's own chain no longer describes its data: the next backup must be full.
            setFlag(Proto.BACKUP_STATE_CHAIN, false);
            Faults.point();
            Tx.commit();
            Faults.point();
            closeSession();
            return 0;
        }
        ISOException.throwIt(Proto.SW_CONDITIONS_NOT_SATISFIED);
        return 0;
    }

    private void closeSession() {
        Util.arrayFillNonAtomic(ses, (short) 0, X_SIZE, (byte) 0);
        kEnc.clearKey();
        kMac.clearKey();
        kTmp.clearKey();
    }

    /** Gives up an unfinished restore: the regions it touched are zeroed (no half-restored data, no value). */
    private void discard() {
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
        setFlag(Proto.BACKUP_STATE_RESTORE_PENDING, false);
        setFlag(F_RCHAIN, false);
        setFlag(Proto.BACKUP_STATE_CHAIN, false);
        Tx.commit();
    }
}
