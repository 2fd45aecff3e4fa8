"""Handing the live player over to Take 1's player without a gap, and bringing the takes into view.

Take 1 plays live from its first decoded piece (a plain <audio> on `live/<token>.wav`); once the take is complete
its own player (with its downloads) takes that place and the live one goes, so there is never a second Take 1
on the page. A musician listening live must not be cut off, nor sent back to the start: the page's script notes
where the live player is, and when the page says the handover has come (`marker()` in the live player's place)
and Take 1's player has its audio, it goes on from there. It is kept playing on for the handover's time, until
the musician touches that player: the kept song's last update gives the player its file again, which Gradio's
player pauses for and which sends an <audio> back to 0 s, and must not interrupt the music. A take complete
with its first piece (a song of one codec window, up to about 30 s) is the same handover from 0 s: Take 1
starts playing as soon as it exists. A live player the musician paused, or one that played to its end, is not
handed over. Take 1's player is then kept in view for a few seconds (a short window, or a narrow one that
stacks the columns), unless the musician scrolls up.

The script runs once when the page loads (Gradio's `launch(js=...)`) and looks every 200 ms; Gradio's player
keeps its <audio> in a shadow root, so it looks there too.
"""

from __future__ import annotations

import secrets

HANDOVER_S = 30  # how long a handover waits for Take 1's player to have its audio
FOLLOW_S = 8  # how long Take 1 is then kept in view (its downloads come with the kept song, a moment later)


def marker() -> str:
    """What takes the live player's place when Take 1 is complete: an empty element that tells the page's script
    to hand over (each one new, so two songs in a row are two handovers)."""
    return f'<span class="hs-handover" data-handover="{secrets.token_hex(8)}"></span>'


HANDOVER_JS = """() => {
    const LIVE = '#create-live-audio', MARK = '#create-live .hs-handover', TAKE = '#take-1';
    let live = null, at = 0, wanted = true, done = null;
    // A handover under way ({until, el, placed, played, start}): until `until`, or until the musician touches
    // Take 1's player, Take 1 plays on from `at` (the live player's `start`, then wherever Take 1 has got to).
    let handing = null;
    let follow = 0, lastY = 0;  // after a handover, Take 1 is kept in view while its downloads come
    // Gradio may keep a hidden copy of a group beside the shown one: only a shown one counts.
    const shown = (sel) => [...document.querySelectorAll(sel)].find((e) => e.offsetParent !== null) || null;
    const audioIn = (sel) => {
        const root = shown(sel);
        if (!root) return null;
        const found = [...root.querySelectorAll('audio')];
        root.querySelectorAll('*').forEach((e) => {
            if (e.shadowRoot) found.push(...e.shadowRoot.querySelectorAll('audio'));
        });
        return found.find((a) => a.currentSrc || a.src) || null;
    };
    const intoView = (box) => {
        const r = box.getBoundingClientRect();
        if (r.top < 0 || r.bottom > innerHeight) box.scrollIntoView({block: 'nearest', behavior: 'smooth'});
    };
    window.__hsHandover = 'none';  // what the last handover did (read by the browser tests)
    // The musician's own press on Take 1's player (or a key while it has the focus) is theirs: the handover ends.
    const touched = (target) => { const box = shown(TAKE); if (handing && box && box.contains(target)) handing = null; };
    document.addEventListener('pointerdown', (e) => touched(e.target), true);
    document.addEventListener('keydown', () => touched(document.activeElement), true);
    setInterval(() => {
        if (follow) {
            const box = shown(TAKE);
            // A musician who scrolls up (or waits long enough) is left where they are.
            if (!box || Date.now() > follow || scrollY < lastY - 4) follow = 0;
            else { intoView(box); lastY = scrollY; }
        }
        const now = document.querySelector(LIVE);
        if (now && now !== live) {  // a new live take: playing unless the musician pauses it
            live = now; at = 0; wanted = true; handing = null;  // the last song's hold ends with a new one
            // A pause while the player is still on the page is the musician's (leaving the page pauses too).
            now.addEventListener('pause', () => { if (now.isConnected && !now.ended) wanted = false; });
            now.addEventListener('play', () => { wanted = true; });
        }
        if (now) { at = now.currentTime; if (now.ended) wanted = false; }
        const mark = document.querySelector(MARK);
        if (!mark && !now && !handing) { live = null; at = 0; wanted = true; }  // between songs: start afresh
        if (mark && mark.dataset.handover !== done) {
            done = mark.dataset.handover;
            handing = {until: Date.now() + %d * 1000, el: null, placed: false, played: false, start: at};
            follow = Date.now() + %d * 1000; lastY = scrollY;
            window.__hsHandover = wanted ? 'waiting' : 'not wanted';
            if (!wanted) handing = null;
        }
        if (!handing) return;
        if (Date.now() > handing.until) {
            if (!handing.played) window.__hsHandover = 'expired';
            handing = null;
            return;
        }
        // Until the musician touches Take 1's player, it plays on from `at`, whatever the page does to it: it may
        // still be loading, be drawn anew by Gradio, or be paused and load its file again (the kept song's last
        // update gives it the same file, which Gradio's player pauses for and which sends an <audio> to 0 s).
        const take = audioIn(TAKE);
        if (!take || take.readyState < 1) return;
        if (take !== handing.el) {
            handing = {...handing, el: take, placed: false};
            take.addEventListener('emptied', () => { if (handing && handing.el === take) handing.placed = false; });
        }
        if (!handing.placed || take.currentTime < Math.min(at, take.duration || at) - 1) {
            take.currentTime = Math.min(at, Math.max(0, (take.duration || at) - 0.05));
            handing.placed = true;
        }
        if (take.ended) { handing = null; window.__hsHandover = 'played'; return; }
        if (take.paused) {
            take.play().catch(() => {});
            if (!handing.played) window.__hsHandover = 'starting';
            return;
        }
        at = Math.max(at, take.currentTime);
        const start = Math.min(handing.start, take.duration || handing.start);
        if (take.currentTime > start + 0.3) { handing.played = true; window.__hsHandover = 'played'; }
    }, 200);
}""" % (HANDOVER_S, FOLLOW_S)
