r"""An offline demo dataset: stick-figure people doing ten activities, in the real layouts.

  python -m focusclip_tools.demo_data.writer --out=/tmp/focusclip_demo [--num_train=4000] \
      [--seed=0]

writes, deterministically from the seed and with no download, everything a new user needs to
watch FocusCLIP train and evaluate zero-shot on a small CPU:

* ``<out>/mpii/``: the MPII Pose Descriptions manual directory exactly as the real TFDS builder
  reads it (``images/000000001.jpg ...``, ``descriptions/gpt-4-0613/train.json``,
  ``descriptions/gpt-3.5-turbo-0613/val.json``; records {image, video_id, video_frame,
  activity "<category>, <name>", activity_id, count, people [{id, center, scale, kpts 16 x
  [x, y], kpts_vis 16}], istrain, description}), so
  ``python -m input_pipeline.prepare --manual_dir=<out>/mpii --config=gpt-4-224px`` builds it;
* ``<out>/zeroshot/stanford40/``: held-out renders of the same activities in the Stanford 40
  Actions layout (``JPEGImages/<action>_<NNN>.jpg``, ``ImageSplits/{actions,test}.txt``), one
  class per activity, read by ``input_pipeline.eval_datasets.load('stanford40', <out>/zeroshot)``
  with prompts such as "a photo of a person raising both arms";
* ``<out>/zeroshot/lagenda/``: held-out single-person renders of children (5-11 years) and
  adults (25-60) in the LAGENDA CSV layout (``lagenda_annotation.csv`` + ``images/``), read by
  ``load('lagenda_body' | 'lagenda_face', <out>/zeroshot)`` (classes kid / teenager / adult; no
  teenagers are rendered).

Design (modules ``skeleton``, ``activities``, ``render``, ``writer``)
---------------------------------------------------------------
*People.* A person is MPII's 16-joint skeleton (``input_pipeline.mpii_joints``; x right, y down, the
person's right/left) built by forward kinematics from the pelvis: torso, neck and head, then
upper/lower arms from the shoulders and upper/lower legs from the hips, each segment given by an
angle. Segment lengths come from ``body_for_age``: children have a larger head, shorter legs
and are shorter overall than adults. A ``Pose`` is either seen from the front (the person faces
the camera, so their left side is at the viewer's right; limb angles are measured outward) or
in profile (facing left or right; limb angles are measured forward). A global in-plane rotation,
scale and position place it in the image.

*Activities.* ``ACTIVITIES`` are ten pose families, each with an MPII-like activity string
("<category>, <name>", what the training records hold) and a short zero-shot action name
(the Stanford-40-style class, e.g. ``raising_both_arms`` -> "a photo of a person raising both
arms"). Every family samples its joint angles from ranges chosen so that the families stay
distinguishable from the skeleton alone (tests/test_demo_data.py checks the defining geometry:
wrists above the head for "raising both arms", a horizontal torso for "lying down", hips at
knee height for "squatting", ...). Like MPII, the activity belongs to the image: all its 1-3
people do it.

*Rendering* (PIL, 2x supersampled, then box-filtered down). Limbs are thick round-capped
segments (thickness proportional to the person's height), the torso a polygon plus a thick
spine, the head a filled circle; colours are random per person (clothes, skin tone), far-side
limbs in profile are darker. Standing people cast a small shadow (for "jumping" it sits below
the feet, a feet-off-the-ground cue); "sitting" people sit on a drawn chair. The background is a
random colour gradient with low- and high-frequency noise, a few large soft shapes and several
*limb-like distractors*: thick segments, bent two-segment "limbs" and skin-coloured blobs in the
same palettes as the people. The subject is therefore not the only limb-like thing in the
picture: telling person from clutter needs the body's structure, which is what FocusCLIP's
heatmap-highlighted branch teaches the image encoder to attend to.

*Keypoints* are recorded exactly as drawn (float pixels rounded to 0.01; pixel centres at
integer coordinates, 0-based). A joint is visible (``kpts_vis`` 1) unless it falls outside the
image or is randomly marked occluded (probability ``OCCLUSION_PROB``); coordinates are kept for
invisible joints. ``center`` is the centre of the person's box and ``scale`` = standing height
/ 200 (MPII: the person's height is about scale * 200 px).

*Descriptions* come from ``focusclip_tools.describe.geometry.describe_record`` (the
keypoint-geometry describer that writes the paper's description structure).

*Determinism.* Every image is rendered from its own generator,
``numpy.random.default_rng([seed, split code, index])``, and JPEGs are written with fixed
settings (quality 90), so the same seed gives byte-identical files; the zero-shot sets use other
split codes, i.e. renders never seen in training.
"""

