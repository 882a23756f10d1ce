"""Voice: text to speech, speech to text, voice activity, all local and behind small interfaces."""
