package cardsmith.applet;

/**
 * A capability whose personalisation state CLEAR_BUNDLE must reset (region table, loaded keys, PIN, ...).
 * Register it once at install with {@code bundle.addClearHook(this)}. The hook must be idempotent (CLEAR is
 * simply sent again after a power loss) and write persistent state through Tx.
 */
interface ClearHook {
    /** Back to the state right after install, as far as personalisation wrote it. */
    void clearPersonalisation();
}
