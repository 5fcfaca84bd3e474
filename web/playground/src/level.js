// The loudness of a media track, measured with a WebAudio AnalyserNode. Chrome only feeds a
// remote WebRTC track into WebAudio while it also plays in a media element: attach it first.

export class LevelMeter {
  constructor(mediaStreamTrack, onLevel) {
    this.context = new AudioContext();
    this.source = this.context.createMediaStreamSource(new MediaStream([mediaStreamTrack]));
    this.analyser = this.context.createAnalyser();
    this.analyser.fftSize = 1024;
    this.source.connect(this.analyser);
    this.samples = new Float32Array(this.analyser.fftSize);
    this.peak = 0;
    this.timer = setInterval(() => {
      if (this.context.state === 'suspended') {
        this.context.resume().catch(() => {});
      }
      this.analyser.getFloatTimeDomainData(this.samples);
      let sum = 0;
      for (const sample of this.samples) sum += sample * sample;
      const rms = Math.sqrt(sum / this.samples.length);
      this.peak = Math.max(this.peak, rms);
      onLevel(rms);
    }, 50);
  }

  close() {
    clearInterval(this.timer);
    this.source.disconnect();
    this.context.close().catch(() => {});
  }
}
