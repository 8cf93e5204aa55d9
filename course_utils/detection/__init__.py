"""Object detection on PCB defects (Project #2 of the course).

Import the modules explicitly, e.g. ``from course_utils.detection import pcb, deeppcb``. The
modules line up with :mod:`course_utils.classification` (see CONTRIBUTING.md):

* ``pcb``         - ``DetectionSet`` and the six classes (``PCB_CLASSES``).
* ``deeppcb``     - the real DeepPCB folder: reader, download, official counts.
* ``twin``        - the synthetic PCB twin (``make_synthetic_pcb``) and its defects; ``twin_layout``: its boards.
* ``data``        - ``load_pcb_data``, the notebooks' entry point (twin or real folder).
* ``calibration`` - twin vs real statistics.
* ``formats``     - DeepPCB txt, YOLO txt and COCO json conversions; data-set summaries.
* ``draw``        - drawing boxes on images and box-size histograms (matplotlib).
* ``boxes``       - box conversions, IoU, box areas and non-maximum suppression.
* ``matching``    - matching predictions to ground truth, the step every metric shares.
* ``metrics``     - AP / mAP and the DeepPCB protocol; ``analysis`` - PR plots and error types;
  ``evaluate``    - both in one report (``evaluate_detections``).
* ``classical``   - the template-difference baseline (OpenCV).
* ``detector``    - the small one-stage detector written as the lesson.
* ``tv_detectors`` - torchvision detectors through the offline-safe weights path.
* ``masks``, ``segment`` - defect masks and segmentation (week 12).
* ``widgets``     - an ipywidgets threshold tool.
* ``labeling``    - a box-labelling session (auto-label, correct, YOLO / DeepPCB txt, quality check) and its
  widget (``[label]`` extra).
* ``yolo``, ``yolo_data``, ``yolo_export`` - YOLO data sets, ultralytics runs and ONNX export.

Conventions shared by every module: boxes are ``float32 (k, 4)`` arrays of
``x1, y1, x2, y2`` pixels; class ids are ``int64`` 1..6 indexing
``pcb.PCB_CLASSES`` as ``class_names[id - 1]`` (0 = background, unused).
"""

__all__: list[str] = []
