"""The player: a little at a time to the line, pause/resume on noise, stop with the right transcript."""

from concurrent.futures import Future

from callbox.lines.base import PlaybackBuffer
from callbox.voice.player import BYTES_PER_MS, Player


class FakeLine:
    def __init__(self):
        self.buffer = PlaybackBuffer()
        self.heard = bytearray()

    def play(self, pcm):
        self.buffer.push(pcm)

    def stop_playback(self):
        return self.buffer.clear()

    def playback_pending_ms(self):
        return self.buffer.pending_ms()

    def tick(self, n=1):
        for _ in range(n):
            self.heard += self.buffer.pop_frame()


def tone(value, ms):
    return bytes([value, 0]) * (ms * BYTES_PER_MS // 2)


def run(player, line, frames):
    done = []
    for _ in range(frames):
        done += [s.key for s in player.pump()]
        line.tick()
    return done


def test_never_more_than_the_lead_on_the_line():
    line = FakeLine()
    player = Player(line, lead_ms=100)
    player.enqueue("a", tone(1, 2000))
    player.pump()
    assert line.playback_pending_ms() <= 100


def test_prompts_finish_in_order_when_heard():
    line = FakeLine()
    player = Player(line)
    player.enqueue("a", tone(1, 200))
    player.enqueue("b", tone(2, 100))
    assert run(player, line, 30) == ["a", "b"]
    assert not player.active


def test_pause_goes_silent_at_once_and_resume_rewinds_a_little():
    line = FakeLine()
    player = Player(line, rewind_ms=200)
    player.enqueue("a", tone(1, 1000))
    run(player, line, 25)  # 500 ms heard
    player.pause()
    assert line.playback_pending_ms() == 0
    run(player, line, 5)
    assert line.heard[-320:] == bytes(320)  # silence while paused
    player.resume()
    done = run(player, line, 60)
    assert done == ["a"]
    voiced = sum(1 for i in range(0, len(line.heard), 2) if line.heard[i] == 1) * 2 // BYTES_PER_MS
    assert 1000 + 150 <= voiced <= 1000 + 250  # all of it, plus about rewind_ms again


def test_stop_reports_the_cut_prompt_first_and_drops_the_rest():
    line = FakeLine()
    player = Player(line)
    player.enqueue("a", tone(1, 500), turn=3)
    player.enqueue("b", tone(2, 500), turn=4)
    run(player, line, 10)
    dropped = player.stop()
    assert [(s.key, s.turn, s.started) for s in dropped] == [("a", 3, True), ("b", 4, False)]
    assert not player.active and line.playback_pending_ms() == 0


def test_streamed_sentences_play_in_order_as_they_render():
    line = FakeLine()
    player = Player(line)
    first, second = Future(), Future()
    first.set_result(tone(1, 100))
    player.enqueue("dyn", [first, second])
    run(player, line, 10)
    assert player.active  # waiting for the second sentence
    second.set_result(tone(2, 100))
    assert run(player, line, 10) == ["dyn"]
    values = [line.heard[i] for i in range(0, len(line.heard), 2) if line.heard[i]]
    assert values == sorted(values)  # sentence 1 entirely before sentence 2
