using System;

namespace PromptFace
{
    /// <summary>
    /// A named pose of an ARKit rig (a prompt's expression, a viseme): the listed shapes at their weights (0-1), every
    /// other shape at 0. The export's sidecar lists them under rig.poses in this form, which JsonUtility reads and
    /// Unity serializes (neither takes a dictionary).
    /// </summary>
    [Serializable]
    public sealed class ArkitPose
    {
        public string name;
        public ShapeWeight[] weights = new ShapeWeight[0];

        [Serializable]
        public sealed class ShapeWeight
        {
            /// <summary>An ARKit name (eyeBlinkLeft).</summary>
            public string shape;
            public float weight;
        }
    }
}
